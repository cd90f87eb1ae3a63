// The storefront's only script: suggestions as you type, and the behaviour events (impressions,
// clicks, views, add-to-cart, purchases) sent to /v1/events with the query id they belong to.
(function () {
  "use strict";
  var body = document.body;
  var key = body.dataset.key;
  var common = {
    application: "storefront",
    session_id: body.dataset.session,
    client_id: body.dataset.client,
  };

  function headers(json) {
    var h = json ? { "Content-Type": "application/json" } : {};
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  function eventId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(16) + Math.random().toString(16).slice(2);
  }

  function event(action, productId, queryId, position) {
    var e = Object.assign({}, common, {
      action_name: action,
      event_id: eventId(),
      timestamp: new Date().toISOString(),
      event_attributes: { object: { object_id: productId, object_id_field: "product_id" } },
    });
    if (queryId) e.query_id = queryId;
    if (body.dataset.query) e.user_query = body.dataset.query;
    // UBI's ordinal counts from 0; the page numbers its cards from 1 (docs/events.md#positions).
    if (position) e.event_attributes.position = { ordinal: Number(position) - 1 };
    return e;
  }

  function send(events) {
    if (!events.length) return Promise.resolve(null);
    return fetch("/v1/events", {
      method: "POST",
      headers: headers(true),
      body: JSON.stringify(events),
      keepalive: true, // a click's event must survive the navigation it starts
    }).then(function (response) {
      body.dataset.eventsSent = String(Number(body.dataset.eventsSent || 0) + events.length);
      if (!response.ok) body.dataset.eventsFailed = String(response.status);
      return response;
    });
  }

  function say(text) {
    document.getElementById("status").textContent = text;
  }

  // Impressions: every list of products on the page, with its query (or recommendation request) id.
  var shown = [];
  document.querySelectorAll("ol.grid").forEach(function (grid) {
    grid.querySelectorAll("li.card").forEach(function (card) {
      shown.push(event("impression", card.dataset.productId, grid.dataset.queryId, card.dataset.position));
    });
  });

  // A product page is a view of its product, credited to the search that led here.
  var product = body.dataset.productId;
  if (product) shown.push(event("view", product, body.dataset.queryId, body.dataset.position));
  send(shown);

  document.addEventListener("click", function (e) {
    var link = e.target.closest("li.card a.title");
    if (!link) return;
    var card = link.closest("li.card");
    var grid = card.closest("ol.grid");
    send([event("click", card.dataset.productId, grid.dataset.queryId, card.dataset.position)]);
  });

  function action(id, name, message) {
    var button = document.getElementById(id);
    if (!button) return;
    button.addEventListener("click", function () {
      send([event(name, product, body.dataset.queryId, body.dataset.position)]).then(function (r) {
        say(r && r.ok ? message : "Sorry, that did not go through. Please try again.");
      });
    });
  }
  action("add-to-cart", "add_to_cart", "Added to your cart.");
  action("buy-now", "purchase", "Thank you for your order.");

  // Suggestions: the datalist under the search box, filled as the shopper types.
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    var prefix = input.value.trim();
    if (prefix.length < 2) return;
    timer = setTimeout(function () {
      fetch("/v1/suggest?q=" + encodeURIComponent(prefix), { headers: headers(false) })
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (answer) {
          list.replaceChildren.apply(list, answer.suggestions.map(function (s) {
            var option = document.createElement("option");
            option.value = s.text;
            return option;
          }));
          body.dataset.suggestions = String(answer.suggestions.length);
        });
    }, 120);
  });
})();
