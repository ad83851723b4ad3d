// A typed ContactQL client that sends only its documents' ids, never their text: what a
// server with CONTACTQL_TRUSTED_DOCUMENTS runs for keys that are not admin.
//   node dist/app.js URL KEY   → one JSON object on stdout
import { graphql } from "./gql/index.js";
import type { TypedDocumentString } from "./gql/graphql.js";

const AddContact = graphql(`
  mutation AddContact($email: String!, $firstName: String) {
    upsertContact(input: { contact: { email: $email, firstName: $firstName } }) {
      outcome
      contact { id email firstName createdAt }
      userErrors { field code message }
    }
  }
`);

const CountContacts = graphql(`
  query CountContacts {
    contacts { totalCount }
  }
`);

const [url, key] = process.argv.slice(2);

interface Answer<R> {
  data?: R | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function send<R, V>(document: TypedDocumentString<R, V>, variables: V): Promise<Answer<R>> {
  const response = await fetch(url, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ documentId: document.__meta__?.hash, variables }),
  });
  return (await response.json()) as Answer<R>;
}

const added = await send(AddContact, { email: "typed@example.com", firstName: "Ada" });
// Typed all the way: outcome is the ContactOutcome enum, createdAt a string.
const outcome: string | null | undefined = added.data?.upsertContact.outcome;
const createdAt: string | undefined = added.data?.upsertContact.contact?.createdAt;
const counted = await send(CountContacts, {});
const total: number | undefined = counted.data?.contacts.totalCount;

// The same server refuses a document it was not built with.
const adHoc = await fetch(url, {
  method: "POST",
  headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
  body: JSON.stringify({ query: "{ contacts { totalCount } }" }),
});
const refused = ((await adHoc.json()) as Answer<unknown>).errors?.[0]?.extensions?.code;

console.log(JSON.stringify({ outcome, createdAt, total, refused }));
