// One row of the list: a contact and the lists it is in.
import { graphql } from "relay-runtime";

export const ContactRowFragment = graphql`
  fragment ContactRow_contact on Contact {
    id
    email
    mobile
    firstName
    lastName
    emailStatus
    lists {
      id
      name
    }
  }
`;
