// Organizer dashboard charts (ECharts, bundled locally).
(function () {
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  function bar(id, title, obj) {
    var chart = echarts.init(document.getElementById(id));
    chart.setOption({
      animation: false, title: { text: title, textStyle: { fontSize: 14 } }, tooltip: {},
      xAxis: { type: "category", data: Object.keys(obj), axisLabel: { interval: 0, rotate: 20 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: Object.values(obj), itemStyle: { color: "#c8102e" } }]
    });
  }
  bar("chart-type", data.labels.type, data.by_type);
  bar("chart-status", data.labels.status, data.by_status);
  var funnel = echarts.init(document.getElementById("chart-funnel"));
  funnel.setOption({
    animation: false, title: { text: data.labels.funnel, textStyle: { fontSize: 14 } }, tooltip: {},
    series: [{ type: "funnel", top: 40, sort: "descending", label: { formatter: "{b}: {c}" }, data: [
      { name: data.labels.suggested, value: data.funnel.suggested },
      { name: data.labels.accepted, value: data.funnel.accepted },
      { name: data.labels.contacted, value: data.funnel.contacted }] }]
  });
  var unmet = {}; data.unmet.forEach(function (p) { unmet[p[0]] = p[1]; });
  bar("chart-unmet", data.labels.unmet, unmet);
  document.body.dataset.chartsReady = "1";
})();
