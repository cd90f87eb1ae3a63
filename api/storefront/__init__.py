"""The storefront demo under /ui: server-rendered pages a shopper can use, whose every impression,
click, add-to-cart and purchase goes to /v1/events with its query id (docs/ui.md)."""
