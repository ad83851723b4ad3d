// The screen's one query: the first page of contacts, and the fragments below pull their fields.
import { graphql } from "relay-runtime";

export const AppQuery = graphql`
  query AppQuery($count: Int, $search: String) {
    ...ContactsPage_query @arguments(count: $count, search: $search)
    lists(first: 5) {
      edges {
        node {
          ...ListMembers_list
        }
      }
    }
  }
`;
