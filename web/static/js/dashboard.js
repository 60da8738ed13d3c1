// Organizer dashboard charts (ECharts, bundled locally), drawn as SVG so the labels are text.
// Category names (demand types, statuses, industries) sit on the vertical axis of horizontal bars,
// each on its own line: they cannot overlap however long they are in either language; a name longer
// than the label width is cut with an ellipsis and shown whole in the tooltip; the grid makes room
// for the labels (containLabel).
(function () {
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var LABEL_WIDTH = 120;
  function init(id) {
    var chart = echarts.init(document.getElementById(id), null, { renderer: "svg" });
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }
  function bar(id, title, obj) {
    var names = Object.keys(obj).reverse();  // the first category on top
    var values = names.map(function (n) { return obj[n]; });
    init(id).setOption({
      animation: false,
      title: { text: title, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      grid: { left: 8, right: 24, top: 40, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: {
        type: "category", data: names,
        axisLabel: { interval: 0, width: LABEL_WIDTH, overflow: "truncate", ellipsis: "…" },
        axisTick: { alignWithLabel: true }
      },
      series: [{ type: "bar", data: values, barMaxWidth: 22, itemStyle: { color: "#c8102e" },
                 label: { show: true, position: "right" } }]
    });
  }
  bar("chart-type", data.labels.type, data.by_type);
  bar("chart-status", data.labels.status, data.by_status);
  init("chart-funnel").setOption({
    animation: false, title: { text: data.labels.funnel, textStyle: { fontSize: 14 } },
    tooltip: { confine: true },
    series: [{ type: "funnel", top: 40, bottom: 10, left: "8%", width: "52%", sort: "descending", minSize: "20%",
      label: { position: "right", formatter: "{b}: {c}", width: LABEL_WIDTH, overflow: "truncate" },
      data: [
        { name: data.labels.suggested, value: data.funnel.suggested },
        { name: data.labels.accepted, value: data.funnel.accepted },
        { name: data.labels.contacted, value: data.funnel.contacted }] }]
  });
  var unmet = {}; data.unmet.forEach(function (p) { unmet[p[0]] = p[1]; });
  bar("chart-unmet", data.labels.unmet, unmet);
  document.body.dataset.chartsReady = "1";
})();
