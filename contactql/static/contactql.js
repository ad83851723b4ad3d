// ContactQL's GraphiQL page: every asset is served by ContactQL itself (scripts/vendor-graphiql).
// The key goes in the headers editor; HTTP requests send those headers, and subscriptions
// (graphql-transport-ws) send them as the connection_init payload, where ContactQL reads the
// key on a WebSocket (browsers cannot set WebSocket headers).
(function () {
  "use strict";

  const url = window.location.origin + window.location.pathname;
  const subscriptionUrl = url.replace(/^http/, "ws");

  const EXAMPLE = `# Welcome to ContactQL.
#
# 1. Open "Headers" below and paste your API key after "Bearer ".
# 2. Pick an operation with the run button (or Ctrl-Enter).
#
# Keys come from \`contactql keys create\`; the first start of the server prints one.

mutation UpsertContact {
  upsertContact(input: {contact: {email: "ada@example.com", firstName: "Ada"}}) {
    outcome
    contact { id email firstName }
    userErrors { field code message }
  }
}

query Contacts {
  contacts(first: 10) {
    totalCount
    edges { node { id email firstName updatedAt } }
  }
}
`;

  // For a subscription, GraphiQL 3.8's fetcher opens a graphql-ws client with the headers
  // editor's contents as the connection_init payload: the key travels the same way either way.
  function makeFetcher() {
    return GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });
  }

  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function App() {
    const [fetcher, setFetcher] = React.useState(makeFetcher);
    const introspectedWith = React.useRef(null);
    const pending = React.useRef(null);

    // GraphiQL loads the schema (docs, completion) when its fetcher changes: once a key is
    // pasted, hand it a new one so the schema loads with that key.
    const onEditHeaders = React.useCallback(function (text) {
      clearTimeout(pending.current);
      pending.current = setTimeout(function () {
        let authorization = null;
        try {
          authorization = JSON.parse(text).Authorization;
        } catch (error) {
          return; // still being typed
        }
        if (/^Bearer \S+$/.test(authorization || "") && authorization !== introspectedWith.current) {
          introspectedWith.current = authorization;
          setFetcher(function () {
            return makeFetcher();
          });
        }
      }, 300);
    }, []);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: EXAMPLE,
      defaultHeaders: JSON.stringify({ Authorization: "Bearer " }, null, 2),
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      onEditHeaders: onEditHeaders,
      // The key stays in this tab unless the user opts in (Settings → Persist headers).
      shouldPersistHeaders: false,
      showPersistHeadersSettings: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
