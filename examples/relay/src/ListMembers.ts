// A list's members, paged with @connection inside a type other than Query: a new member added
// by a mutation can be inserted with @appendEdge/@prependEdge on this connection's id.
import { graphql } from "relay-runtime";

export const ListMembersFragment = graphql`
  fragment ListMembers_list on ContactList
  @argumentDefinitions(count: { type: "Int", defaultValue: 10 }, cursor: { type: "String" }) {
    id
    name
    contacts(first: $count, after: $cursor) @connection(key: "ListMembers_contacts") {
      edges {
        node {
          id
          email
        }
      }
    }
  }
`;
