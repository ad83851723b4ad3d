// graphql-http's own audit of a GraphQL-over-HTTP server, with ContactQL's key on every request.
//   node tests/clients/audit.mjs URL KEY   → prints one JSON line per result; exit 1 on any error or warning
import { auditServer } from "graphql-http";

const [url, key] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};
const results = await auditServer({ url, fetchFn });
for (const result of results) {
  console.log(JSON.stringify({ id: result.id, status: result.status, name: result.name, reason: result.reason }));
}
// Notices are MAYs (the test wants none); errors and warnings fail.
process.exit(results.some((result) => result.status === "error" || result.status === "warn") ? 1 : 0);
