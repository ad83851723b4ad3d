// A graphql-ws client following a batch: the key in connection_init, one JSON line per result.
//   node tests/clients/progress.mjs BASE_URL KEY BATCH_ID
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [base, key, batchId] = process.argv.slice(2);
const deadline = setTimeout(() => {
  console.error("no completion within 60 s");
  process.exit(2);
}, 60_000);

const client = createClient({
  url: `${base.replace(/^http/, "ws")}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${key}` },
  retryAttempts: 0,
});
const query = "subscription P($id: ID!) { batchProgress(id: $id) { status processed total created } }";
try {
  for await (const result of client.iterate({ query, variables: { id: batchId } })) {
    console.log(JSON.stringify(result));
  }
} finally {
  clearTimeout(deadline);
  await client.dispose();
}
