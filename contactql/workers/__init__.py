"""What runs beside the API: the batch worker, the webhook sender, housekeeping, and the CSV
import the command line runs."""
