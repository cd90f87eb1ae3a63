"""Pages for relevance engineers under /ui: the workbench (one query, two configurations side by
side, with explanations, judgments and the worst queries) and the experiment dashboard. They need
a key with the `debug` scope, sent as a header or kept in a cookie by the console's login page
(docs/ui.md#the-relevance-workbench)."""
