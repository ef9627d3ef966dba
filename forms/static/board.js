// The round's status board refreshes itself: poll the JSON the page names, redraw the rows.
// Without JavaScript the page reloads itself instead (a <noscript> refresh).
(function () {
  "use strict";
  var table = document.querySelector("table.board[data-poll]");
  if (!table || !table.getAttribute("data-poll")) { return; }
  var url = table.getAttribute("data-poll");
  var body = document.getElementById("board-rows");
  var every = 4000;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  function cell(parts) {
    var td = document.createElement("td");
    parts.forEach(function (part, i) {
      if (!part) { return; }
      if (i > 0) { td.appendChild(document.createElement("br")); }
      td.appendChild(part);
    });
    return td;
  }

  function draw(board) {
    Object.keys(board.counts).forEach(function (key) {
      var node = document.querySelector('[data-count="' + key + '"]');
      if (node) { node.textContent = String(board.counts[key]); }
    });
    var rows = document.createDocumentFragment();
    board.people.forEach(function (p) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-email", p.email);
      var who = cell([document.createTextNode(p.name), el("span", "muted", p.organisation)]);
      who.className = "wrap";
      var mail = cell([el("span", "state state-" + p.email_state.replace(/ /g, "-"), p.email_state),
                       p.sent_at ? el("span", "muted", p.sent_at) : null,
                       el("span", "muted small", p.email_detail)]);
      mail.className = "wrap";
      var when = p.answered_at ? p.answered_at + (p.revisions > 1 ? " (" + p.revisions + " saves)" : "") : "";
      var answer = cell([el("span", "state state-" + p.answer_state, p.answer_state),
                         when ? el("span", "muted", when) : null]);
      tr.appendChild(who); tr.appendChild(mail); tr.appendChild(answer);
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    if (!board.open) {
      var state = document.getElementById("round-state");
      if (state) { state.textContent = "Campaign " + board.campaign + ", " + board.state + "."; }
    }
    return board.open;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (board) { if (draw(board)) { setTimeout(poll, every); } })
      .catch(function () { setTimeout(poll, every * 4); });
  }
  setTimeout(poll, every);
}());
