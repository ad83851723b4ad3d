// Apollo Client with HttpLink alone, in its default configuration: a subscription goes over
// HTTP as a multipart response (Apollo's multipart subscription protocol), where a WebSocket
// cannot go. The key is the only thing added.
//   node tests/clients/apollo-http-subscription.mjs URL KEY   → one JSON object on stdout
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const [url, key] = process.argv.slice(2);
const deadline = setTimeout(() => {
  console.error("not done within 60 s");
  process.exit(2);
}, 60_000);

const client = new ApolloClient({ link: new HttpLink({ uri: url, headers: { Authorization: `Bearer ${key}` } }), cache: new InMemoryCache() });

const CHANGES = gql`
  subscription Changes {
    contactsChanged { type contact { id email firstName } }
  }
`;
const UPSERT = gql`
  mutation Upsert($contact: ContactInput!) {
    upsertContact(input: { contact: $contact }) { outcome }
  }
`;

const pushed = new Promise((resolve, reject) => {
  const subscription = client.subscribe({ query: CHANGES }).subscribe({
    next: (result) => {
      subscription.unsubscribe();
      resolve(result);
    },
    error: reject,
  });
});
// The stream says nothing when it has started: write until a change is pushed (bounded).
let change;
pushed.then((value) => (change = value));
for (let i = 1; i <= 50 && change === undefined; i++) {
  await client.mutate({ mutation: UPSERT, variables: { contact: { email: "multipart@example.com", firstName: `Ada ${i}` } } });
  await Promise.race([pushed, new Promise((resolve) => setTimeout(resolve, 200))]);
}
const result = await pushed;
const cached = client.cache.extract();
console.log(JSON.stringify({ pushed: result.data.contactsChanged, errors: result.error ?? null, cacheKeys: Object.keys(cached).sort() }));
clearTimeout(deadline);
