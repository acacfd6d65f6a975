// Draws the page's charts with the vendored Chart.js, from the JSON block the server put in #chart-data.
(function () {
  "use strict";
  var block = document.getElementById("chart-data");
  var data = block ? JSON.parse(block.textContent || "null") : null;
  if (!data || typeof Chart === "undefined") { return; }
  var colors = { planned: "#6f8aa6", due: "#12355b", actual: "#0b6e4f", allocated: "#12355b", disbursed: "#0b6e4f", today: "#b3261e" };
  var dayMs = 86400000;
  function ms(iso) { return iso ? Date.parse(iso + "T00:00:00Z") : null; }
  function iso(value) { return new Date(value).toISOString().slice(0, 10); }
  var common = { responsive: true, maintainAspectRatio: false, animation: false, locale: document.documentElement.lang,
                 plugins: { legend: { rtl: data.rtl, position: "bottom" }, tooltip: { rtl: data.rtl } } };

  function fundingChart(canvasId, labels, rows) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || rows.length === 0) { return; }
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: data.labels.allocated, data: rows.map(function (r) { return r.allocated; }), backgroundColor: colors.allocated },
          { label: data.labels.disbursed, data: rows.map(function (r) { return r.disbursed; }), backgroundColor: colors.disbursed }
        ]
      },
      options: Object.assign({}, common, { scales: { x: { reverse: data.rtl }, y: { position: data.rtl ? "right" : "left", beginAtZero: true } } })
    });
  }

  function timelineChart() {
    var canvas = document.getElementById("timeline-chart");
    if (!canvas || data.milestones.length === 0) { return; }
    var ids = data.milestones.map(function (m) { return m.id; });
    function points(key) {
      return data.milestones.filter(function (m) { return m[key]; }).map(function (m) { return { x: ms(m[key]), y: m.id }; });
    }
    var today = ms(data.today);
    new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          { label: data.labels.planned, data: points("planned"), backgroundColor: "rgba(0,0,0,0)", borderColor: colors.planned,
            borderWidth: 2, pointStyle: "rectRot", pointRadius: 10, pointHoverRadius: 11 },
          { label: data.labels.due, data: points("due"), backgroundColor: colors.due, borderColor: colors.due,
            pointStyle: "circle", pointRadius: 5, pointHoverRadius: 6 },
          { label: data.labels.actual, data: points("actual"), backgroundColor: colors.actual, borderColor: colors.actual,
            pointStyle: "triangle", pointRadius: 8, pointHoverRadius: 9 },
          { label: data.labels.today, type: "line", data: [{ x: today, y: ids[0] }, { x: today, y: ids[ids.length - 1] }],
            borderColor: colors.today, borderDash: [6, 4], pointRadius: 0, showLine: true }
        ]
      },
      options: Object.assign({}, common, {
        scales: {
          x: { type: "linear", reverse: data.rtl, ticks: { callback: function (v) { return iso(v); }, maxTicksLimit: 8 },
               grace: "5%", afterDataLimits: function (scale) { scale.min -= 30 * dayMs; scale.max += 30 * dayMs; } },
          y: { type: "category", labels: ids, offset: true, position: data.rtl ? "right" : "left" }
        },
        plugins: Object.assign({}, common.plugins, {
          tooltip: { rtl: data.rtl, callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + iso(ctx.parsed.x); } } }
        })
      })
    });
  }

  if (data.kind === "dashboard") {
    fundingChart("dashboard-funding-chart", data.funding.map(function (r) { return r.label; }), data.funding);
  } else if (data.kind === "agreement") {
    timelineChart();
    fundingChart("funding-chart", data.funding.map(function (r) { return r.currency; }), data.funding);
  }
})();
