// GraphQL Code Generator's client preset: typed documents for src/, and the manifest of every
// document (persisted-documents.json) that ContactQL loads with CONTACTQL_TRUSTED_DOCUMENTS.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  // ContactQL's schema as the repository keeps it; a running server works too:
  //   schema: { "http://127.0.0.1:8000/graphql": { headers: { Authorization: "Bearer cql_…" } } }
  schema: process.env.CONTACTQL_SCHEMA ?? "../../schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**"],
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false, // `./graphql.js` imports, as Node's ES modules want
  generates: {
    "src/gql/": {
      preset: "client",
      // Documents as strings with their hash (`__meta__.hash`), and the manifest beside them.
      presetConfig: { persistedDocuments: { hashAlgorithm: "sha256" } },
      config: {
        documentMode: "string",
        useTypeImports: true,
        // ContactQL's scalars: DateTime is an RFC 3339 string (@specifiedBy), JSON any value,
        // Upload a file of the GraphQL multipart request spec.
        scalars: { DateTime: "string", JSON: "unknown", Upload: "File" },
      },
    },
  },
};

export default config;
