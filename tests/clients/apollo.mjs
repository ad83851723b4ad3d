// Apollo Client in Node as a frontend team starts with it: InMemoryCache (normalised by
// __typename and id), relayStylePagination for the contacts connection, HTTP for queries and
// mutations and graphql-ws for subscriptions, split the way Apollo's docs show. Only the key is
// added.
//   node tests/clients/apollo.mjs URL KEY   → one JSON object on stdout
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { createHash } from "node:crypto";
import { getMainDefinition, relayStylePagination } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, key] = process.argv.slice(2);
const deadline = setTimeout(() => {
  console.error("not done within 60 s");
  process.exit(2);
}, 60_000);

const http = new HttpLink({ uri: url, headers: { Authorization: `Bearer ${key}` } });
const sockets = createClient({ url: url.replace(/^http/, "ws"), webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${key}` } });
const link = ApolloLink.split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === "OperationDefinition" && definition.operation === "subscription";
  },
  new GraphQLWsLink(sockets),
  http,
);
const cache = new InMemoryCache({ typePolicies: { Query: { fields: { contacts: relayStylePagination(["filter", "search", "orderBy"]) } } } });
const client = new ApolloClient({ link, cache });

const UPSERT = gql`
  mutation Upsert($contact: ContactInput!) {
    upsertContact(input: { contact: $contact }) {
      outcome
      contact { id email firstName lists { id name } }
    }
  }
`;
const PAGE = gql`
  query Page($first: Int!, $after: String) {
    contacts(first: $first, after: $after, orderBy: { field: EMAIL, direction: ASC }) {
      edges { cursor node { id email firstName } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const CHANGES = gql`
  subscription Changes {
    contactsChanged { type contact { id email firstName } }
  }
`;

const report = {};
for (const [i, name] of ["Ada", "Grace", "Linus"].entries()) {
  await client.mutate({ mutation: UPSERT, variables: { contact: { email: `apollo${i}@example.com`, firstName: name } } });
}

// Two pages through relayStylePagination: the cache holds one list of three contacts.
// The next page comes by fetchMore, as Apollo's pagination docs show.
const first = await client.query({ query: PAGE, variables: { first: 2 } });
report.firstPage = first.data.contacts.edges.map((edge) => edge.node.firstName);
const watched = client.watchQuery({ query: PAGE, variables: { first: 2 } });
const watching = watched.subscribe(() => {});
await watched.fetchMore({ variables: { after: first.data.contacts.pageInfo.endCursor } });
watching.unsubscribe();
const merged = client.readQuery({ query: PAGE, variables: { first: 2 } });
report.merged = merged.contacts.edges.map((edge) => edge.node.firstName);
report.hasNextPage = merged.contacts.pageInfo.hasNextPage;

// A subscription over graphql-ws, through the split link, pushes the change a mutation made.
const pushed = new Promise((resolve, reject) => {
  const subscription = client.subscribe({ query: CHANGES }).subscribe({
    next: (result) => {
      subscription.unsubscribe();
      resolve(result.data.contactsChanged);
    },
    error: reject,
  });
});
// graphql-ws does not say when a subscription has started: write until a change is pushed
// (bounded), each write a new name.
let change;
pushed.then((value) => (change = value));
for (let i = 1; i <= 50 && change === undefined; i++) {
  await client.mutate({ mutation: UPSERT, variables: { contact: { email: "apollo0@example.com", firstName: `Ada Lovelace ${i}` } } });
  await Promise.race([pushed, new Promise((resolve) => setTimeout(resolve, 200))]);
}
report.pushed = await pushed;
report.cachedAfterPush = client.readQuery({ query: PAGE, variables: { first: 2 } }).contacts.edges.map((edge) => edge.node.firstName);

// Every object with an id is one normalised record: Typename:id, nothing else at the top.
report.cacheKeys = Object.keys(cache.extract()).sort();

// Automatic persisted queries: Apollo's link as its docs set it up (only the hash function
// chosen). The first time the server does not know the hash and the link sends the document;
// from then on the hash alone.
const sent = [];
const recorded = (input, init = {}) => {
  sent.push(JSON.parse(init.body));
  return fetch(input, init);
};
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const persisted = new ApolloClient({
  link: new PersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: url, headers: { Authorization: `Bearer ${key}` }, fetch: recorded })),
  cache: new InMemoryCache(),
});
const COUNT = gql`
  query Count {
    contacts { totalCount }
  }
`;
report.persistedFirst = (await persisted.query({ query: COUNT, fetchPolicy: "network-only" })).data.contacts.totalCount;
report.persistedAgain = (await persisted.query({ query: COUNT, fetchPolicy: "network-only" })).data.contacts.totalCount;
report.persistedBodies = sent.map((body) => ({ query: typeof body.query === "string", hash: body.extensions?.persistedQuery?.sha256Hash ?? null }));
report.persistedHash = sha256(sent.find((body) => body.query).query);

clearTimeout(deadline);
await sockets.dispose();
client.stop();
console.log(JSON.stringify(report));
