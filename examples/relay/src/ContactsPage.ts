// Infinite scroll over `contacts`: usePaginationFragment with this fragment appends each page to
// one connection in Relay's store, keyed by the search as well (filters), so a new search starts
// a new list. @refetchable on Query needs no Node interface.
import { graphql } from "relay-runtime";

export const ContactsPageFragment = graphql`
  fragment ContactsPage_query on Query
  @argumentDefinitions(count: { type: "Int", defaultValue: 20 }, cursor: { type: "String" }, search: { type: "String" })
  @refetchable(queryName: "ContactsPagePaginationQuery") {
    contacts(first: $count, after: $cursor, search: $search) @connection(key: "ContactsPage_contacts", filters: ["search"]) {
      totalCount
      edges {
        node {
          id
          ...ContactRow_contact
        }
      }
    }
  }
`;
