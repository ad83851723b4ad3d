"""The GraphQL schema: Strawberry types, inputs, enums and payloads, one module per domain.

Types map store rows to the API (`Contact.from_row`) and call resolvers/ for what they fetch;
root.py assembles the root types and `build_schema` (root.py) the schema. Nothing is imported
here, so importing one enum loads only what that module needs.
"""
