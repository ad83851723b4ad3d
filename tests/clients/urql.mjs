// urql as a frontend team starts with it: the default Client (queries by GET within the URL
// limit, mutations by POST) with the document cache, then with graphcache in its default
// configuration (normalised by __typename and id). Only the key is added.
//   node tests/clients/urql.mjs URL KEY   → one JSON object on stdout
import { Client, cacheExchange, fetchExchange, gql } from "@urql/core";
import { cacheExchange as graphcache } from "@urql/exchange-graphcache";
import { persistedExchange } from "@urql/exchange-persisted";

const [url, key] = process.argv.slice(2);
const requests = [];
// Records what went over the wire; the global fetch does the work, unchanged.
const recorded = (input, init = {}) => {
  requests.push({ method: init.method ?? "GET", get: String(input).includes("?query=") });
  return fetch(input, init);
};
const make = (cache) =>
  new Client({ url, exchanges: [cache, fetchExchange], fetch: recorded, fetchOptions: () => ({ headers: { Authorization: `Bearer ${key}` } }) });

const UPSERT = gql`
  mutation Upsert($contact: ContactInput!) {
    upsertContact(input: { contact: $contact }) {
      outcome
      contact { id email firstName }
      userErrors { code }
    }
  }
`;
const PAGE = gql`
  query Page($first: Int!) {
    contacts(first: $first, orderBy: { field: EMAIL, direction: ASC }) {
      totalCount
      edges { node { id email firstName } }
    }
  }
`;
const ONE = gql`
  query One($id: ID!) {
    contact(id: $id) { id email firstName }
  }
`;

const report = {};
const take = (result) => {
  if (result.error) throw new Error(`urql: ${result.error.message}`);
  return result.data;
};

// The document cache: GET for queries, POST for mutations, a cached answer until a mutation
// returns a type the query holds, then a fresh one.
const plain = make(cacheExchange);
const made = take(await plain.mutation(UPSERT, { contact: { email: "urql@example.com", firstName: "Ada" } }).toPromise());
report.created = made.upsertContact.outcome;
report.firstPage = take(await plain.query(PAGE, { first: 10 }).toPromise()).contacts;
const before = requests.length;
report.cachedPage = take(await plain.query(PAGE, { first: 10 }).toPromise()).contacts;
report.requestsForCachedPage = requests.length - before;
take(await plain.mutation(UPSERT, { contact: { email: "urql@example.com", firstName: "Grace" } }).toPromise());
report.pageAfterMutation = take(await plain.query(PAGE, { first: 10 }).toPromise()).contacts;
report.requests = requests.splice(0);

// graphcache: the contact is one record, so a mutation's answer updates every query holding it
// without asking the server again.
const normalised = make(graphcache());
const id = made.upsertContact.contact.id;
report.normalisedBefore = take(await normalised.query(ONE, { id }).toPromise()).contact;
take(await normalised.mutation(UPSERT, { contact: { email: "urql@example.com", firstName: "Linus" } }).toPromise());
const sent = requests.length;
report.normalisedAfter = take(await normalised.query(ONE, { id }, { requestPolicy: "cache-only" }).toPromise()).contact;
report.requestsForNormalised = requests.length - sent;
report.graphcacheRequests = requests.splice(0);

// persistedExchange as its README sets it up: a query goes as its hash alone (by POST unless
// told otherwise); ContactQL asks for the document once, then the hash alone is enough.
const hashed = [];
const persisted = new Client({
  url,
  exchanges: [cacheExchange, persistedExchange(), fetchExchange],
  fetch: (input, init = {}) => {
    const url = new URL(String(input));
    const body = init.body ? JSON.parse(init.body) : {};
    hashed.push({ method: init.method ?? "GET", document: "query" in body || url.searchParams.has("query"), hash: Boolean(body.extensions?.persistedQuery ?? url.searchParams.get("extensions")) });
    return fetch(input, init);
  },
  fetchOptions: () => ({ headers: { Authorization: `Bearer ${key}` } }),
});
report.persistedFirst = take(await persisted.query(ONE, { id }).toPromise()).contact;
report.persistedAgain = take(await persisted.query(ONE, { id }, { requestPolicy: "network-only" }).toPromise()).contact;
report.persistedRequests = hashed;

console.log(JSON.stringify(report));
