// Draws the industry-chain paths that reached the candidates (ECharts graph, bundled locally).
(function () {
  var el = document.getElementById("chain-graph");
  if (!el || !window.echarts) return;
  var chart = echarts.init(el);
  // category names in the page's language (the template writes them; Chinese when it does not)
  var names = el.dataset.categories ? JSON.parse(el.dataset.categories) : ["需求", "产品", "行业", "专利", "企业"];
  fetch(el.dataset.url, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      chart.setOption({
        tooltip: {},
        legend: [{ data: names }],
        series: [{
          type: "graph", layout: "force", roam: true, draggable: true,
          force: { repulsion: 160, edgeLength: 70 },
          categories: names.map(function (n) { return { name: n }; }),
          label: { show: true, fontSize: 11 },
          edgeSymbol: ["none", "arrow"],
          data: data.nodes.map(function (n) { return { id: n.id, name: n.name, category: n.category, symbolSize: n.category === 0 ? 36 : 18 }; }),
          links: data.links.map(function (l) { return { source: l.source, target: l.target }; })
        }]
      });
      el.dataset.rendered = String(data.nodes.length);
    });
})();
