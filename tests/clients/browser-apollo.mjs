// A frontend app as a team builds it with Apollo Client, bundled by esbuild and run in Chromium
// from a page on another origin: apollo-upload-client's UploadHttpLink as the terminating HTTP
// link (its README's setup), graphql-ws for subscriptions through Apollo's split link (Apollo's
// docs' setup), InMemoryCache. Only the key is added. `window.runContactQL(url, key)` does what
// a contacts screen does and returns what it saw; the page shows it for the screenshot.
import { ApolloClient, ApolloLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";
import { createClient } from "graphql-ws";
import { map } from "rxjs";

const UPSERT = gql`
  mutation Upsert($contact: ContactInput!) {
    upsertContact(input: { contact: $contact }) { outcome contact { id email firstName } }
  }
`;
const CONTACTS = gql`
  query Contacts { contacts(first: 10) { totalCount edges { node { id email firstName } } } }
`;
const IMPORT = gql`
  mutation Import($file: Upload!) {
    importContacts(input: { file: $file, listName: "From the browser" }) { batch { id status } userErrors { code message } }
  }
`;
const PROGRESS = gql`
  subscription Progress($id: ID!) { batchProgress(id: $id) { id status processed created } }
`;
const EXPENSIVE = gql`
  query Expensive { contacts(first: 100) { edges { node { id history(first: 47) { edges { node { at } } } } } } }
`;

function show(report) {
  document.body.innerHTML = "";
  const title = document.createElement("h1");
  title.textContent = `Contacts from ${report.api} (page on ${location.origin})`;
  const list = document.createElement("ul");
  for (const contact of report.contacts ?? []) {
    const item = document.createElement("li");
    item.textContent = `${contact.firstName ?? ""} <${contact.email}>`;
    list.append(item);
  }
  const details = document.createElement("pre");
  details.textContent = JSON.stringify({ ...report, contacts: undefined }, null, 2);
  document.body.append(title, list, details);
}

window.runContactQL = async (url, key) => {
  const headers = { Authorization: `Bearer ${key}` };
  const sockets = createClient({ url: url.replace(/^http/, "ws"), connectionParams: headers });
  // Afterware, as Apollo's docs show it: the HTTP link puts the fetch Response on the
  // operation's context; a 429's headers say how long to wait and which request to quote.
  let limited = null;
  const afterware = new ApolloLink((operation, forward) =>
    forward(operation).pipe(
      map((result) => {
        const { response } = operation.getContext();
        if (response?.status === 429) {
          limited = { status: response.status, retryAfter: response.headers.get("retry-after"), requestId: response.headers.get("x-request-id") };
        }
        return result;
      }),
    ),
  );
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    },
    new GraphQLWsLink(sockets),
    afterware.concat(new UploadHttpLink({ uri: url, headers })),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const report = { api: new URL(url).origin };

  const created = await client.mutate({ mutation: UPSERT, variables: { contact: { email: "ada@example.com", firstName: "Ada" } } });
  report.created = created.data.upsertContact.outcome;

  const file = new File(["email,first_name\ngrace@example.com,Grace\nlinus@example.com,Linus\n"], "contacts.csv", { type: "text/csv" });
  const imported = await client.mutate({ mutation: IMPORT, variables: { file } });
  report.importErrors = imported.data.importContacts.userErrors;
  const batch = imported.data.importContacts.batch;

  report.progress = await new Promise((resolve, reject) => {
    const seen = [];
    const subscription = client.subscribe({ query: PROGRESS, variables: { id: batch.id } }).subscribe({
      next: (result) => seen.push(result.data.batchProgress),
      error: reject,
      complete: () => resolve(seen),
    });
    setTimeout(() => {
      subscription.unsubscribe();
      resolve(seen);
    }, 20_000);
  });

  const page = await client.query({ query: CONTACTS, fetchPolicy: "network-only" });
  report.totalCount = page.data.contacts.totalCount;
  report.contacts = page.data.contacts.edges.map((edge) => edge.node);
  // Read from the cache: the contact the mutation wrote is the record the page shows.
  report.cachedAda = client.cache.readFragment({ id: client.cache.identify(created.data.upsertContact.contact), fragment: gql`fragment A on Contact { firstName }` });

  // Spend the key's cost bucket until ContactQL answers 429: Apollo raises the GraphQL error
  // (code RATE_LIMITED), the afterware has read Retry-After, which the browser may read
  // cross-origin only because ContactQL exposes it.
  for (let i = 0; i < 14 && !report.refused; i++) {
    try {
      await client.query({ query: EXPENSIVE, fetchPolicy: "network-only" });
    } catch (error) {
      report.refused = { name: error.name, code: error.errors?.[0]?.extensions?.code ?? null, ...limited };
    }
  }
  await sockets.dispose();
  show(report);
  return report;
};
