(function () {
  "use strict";
  /* The methods table of index.html, drawn from the JSON data block #methods-data (text only: every cell is
     set with textContent, every link from a validated id). One filter per facet of `kdtax list` (values
     combine with AND, as its options do), dataset and year filters, full-text search (every word must occur, as `kdtax list --search`),
     live counts per facet value, sortable columns, rows drawn a page at a time, and the state kept in the
     URL fragment (#knowledge=...&search=...). */
  var PAGE = 100;
  var table = document.getElementById("methods");
  var panel = document.getElementById("facets");
  var tools = document.getElementById("tools");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var clear = document.getElementById("clear");
  var more = document.getElementById("more");
  var dataset = document.getElementById("dataset");
  var yearFrom = document.getElementById("year-from");
  var yearTo = document.getElementById("year-to");
  var source = document.getElementById("methods-data");
  if (!table || !panel || !tools || !search || !shown || !clear || !more || !source || !dataset || !yearFrom || !yearTo) { return; }
  var body = table.tBodies[0];
  var data = JSON.parse(source.textContent);

  function fold(text) { return text.toLowerCase().replace(/[\s_\-]+/g, " "); }

  var entryText = data.entries.map(function (e) { return fold(e[2]); });
  var rows = data.rows.map(function (r, position) {
    var entry = data.entries[r[0]];
    var set = Object.create(null);
    r[3].forEach(function (t) { set[data.terms[t]] = true; });
    return {
      id: entry[0], title: entry[1], config: r[1], cells: r[2], tokens: r[3], set: set,
      text: entryText[r[0]] + " " + fold(r[4]), position: position, year: r[5],
      datasets: r[6].map(fold)
    };
  });
  var boxes = Array.prototype.slice.call(panel.querySelectorAll("input[type=checkbox]"));
  var counters = {};
  Array.prototype.forEach.call(panel.querySelectorAll("[data-count]"), function (el) {
    counters[el.getAttribute("data-count")] = el;
  });
  var order = rows.slice();
  var matching = [];
  var drawn = 0;

  function makeRow(row) {
    var tr = document.createElement("tr");
    tr.className = "method-row";
    tr.setAttribute("data-id", row.id);
    tr.setAttribute("data-config", row.config);
    var td = document.createElement("td");
    var a = document.createElement("a");
    a.href = "methods/" + encodeURIComponent(row.id) + ".html#config-" + encodeURIComponent(row.config);
    a.title = row.title;
    a.textContent = row.id + "#" + row.config;
    td.appendChild(a);
    tr.appendChild(td);
    row.cells.forEach(function (value) {
      var c = document.createElement("td");
      c.textContent = value;
      tr.appendChild(c);
    });
    return tr;
  }

  function drawMore() {
    var fragment = document.createDocumentFragment();
    var stop = Math.min(matching.length, drawn + PAGE);
    for (; drawn < stop; drawn++) { fragment.appendChild(makeRow(matching[drawn])); }
    body.appendChild(fragment);
    var left = matching.length - drawn;
    more.hidden = left === 0;
    more.textContent = "Show " + Math.min(PAGE, left) + " more (" + left + " not shown)";
  }

  function writeHash() {
    var parts = [];
    boxes.forEach(function (b) {
      if (b.checked) { parts.push(encodeURIComponent(b.name) + "=" + encodeURIComponent(b.value.split(":")[1])); }
    });
    if (search.value) { parts.push("search=" + encodeURIComponent(search.value)); }
    if (dataset.value) { parts.push("dataset=" + encodeURIComponent(dataset.value)); }
    if (yearFrom.value || yearTo.value) { parts.push("year=" + encodeURIComponent(yearFrom.value + "-" + yearTo.value)); }
    var url = parts.length ? "#" + parts.join("&") : location.pathname + location.search;
    try { history.replaceState(null, "", url); } catch (e) { /* some browsers refuse it on file:// */ }
  }

  function readHash() {
    var text = location.hash.replace(/^#/, "");
    if (!text) { return; }
    text.split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq < 0) { return; }
      var key = decodeURIComponent(part.slice(0, eq)), value = decodeURIComponent(part.slice(eq + 1));
      if (key === "search") { search.value = value; return; }
      if (key === "dataset") { dataset.value = value; return; }
      if (key === "year") {
        var range = value.split("-");
        yearFrom.value = range[0] || "";
        yearTo.value = range.length > 1 ? range[1] : range[0] || "";
        return;
      }
      boxes.forEach(function (b) {
        if (b.name === key && b.value.split(":")[1] === value) { b.checked = true; }
      });
    });
  }

  function apply(updateHash) {
    var wanted = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var words = fold(search.value).split(" ").filter(function (w) { return w !== ""; });
    var needle = fold(dataset.value.trim());
    var low = yearFrom.value ? Number(yearFrom.value) : -Infinity;
    var high = yearTo.value ? Number(yearTo.value) : Infinity;
    var counts = Object.create(null);
    matching = [];
    for (var r = 0; r < order.length; r++) {
      var row = order[r], ok = true;
      for (var w = 0; ok && w < wanted.length; w++) { ok = row.set[wanted[w]] === true; }
      for (var s = 0; ok && s < words.length; s++) { ok = row.text.indexOf(words[s]) >= 0; }
      ok = ok && row.year >= low && row.year <= high;
      if (ok && needle) { ok = row.datasets.some(function (d) { return d.indexOf(needle) >= 0; }); }
      if (ok) {
        matching.push(row);
        for (var t = 0; t < row.tokens.length; t++) { counts[row.tokens[t]] = (counts[row.tokens[t]] || 0) + 1; }
      }
    }
    var byName = Object.create(null);
    for (var key in counts) { byName[data.terms[key]] = counts[key]; }
    for (var name in counters) {
      var n = byName[name] || 0;
      counters[name].textContent = "(" + n + ")";
      counters[name].parentNode.className = n ? "" : "zero";
    }
    shown.textContent = matching.length + " of " + rows.length + " configurations match";
    body.textContent = "";
    drawn = 0;
    drawMore();
    document.body.setAttribute("data-filtered", String(matching.length));
    if (updateHash) { writeHash(); }
  }

  panel.addEventListener("change", function () { apply(true); });
  [search, dataset, yearFrom, yearTo].forEach(function (input) {
    input.addEventListener("input", function () { apply(true); });
  });
  more.addEventListener("click", drawMore);
  clear.addEventListener("click", function () {
    boxes.forEach(function (b) { b.checked = false; });
    search.value = dataset.value = yearFrom.value = yearTo.value = "";
    apply(true);
  });
  window.addEventListener("hashchange", function () {
    boxes.forEach(function (b) { b.checked = false; });
    search.value = dataset.value = yearFrom.value = yearTo.value = "";
    readHash();
    apply(false);
  });

  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (head, col) {
    head.title = "sort by this column";
    head.tabIndex = 0;
    function value(row) { return col === 0 ? row.id + "#" + row.config : row.cells[col - 1]; }
    function sort() {
      var up = head.getAttribute("data-dir") !== "up";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-dir"); });
      head.setAttribute("data-dir", up ? "up" : "down");
      order.sort(function (a, b) {
        var x = value(a), y = value(b);
        var n = Number(x) - Number(y);
        var d = isNaN(n) || x === "" || y === "" ? x.localeCompare(y) : n;
        d = d || a.position - b.position;
        return up ? d : -d;
      });
      apply(false);
    }
    head.addEventListener("click", sort);
    head.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
  });

  tools.hidden = false;
  panel.hidden = false;
  readHash();
  apply(false);
  document.body.setAttribute("data-ready", "1");
})();
