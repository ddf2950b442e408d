// Sort a table by a column when its header is clicked. The page reads the same without it.
(function () {
  function key(group, col) {
    var row = group.rows ? group.rows[0] : group;
    var cell = row && row.children[col];
    if (!cell) return [2, ''];
    var s = cell.getAttribute('data-v') || cell.textContent.trim();
    // Numbers ("22.1 ± 0.3", "+2.5") sort as numbers, before text ("pending", "L2").
    var m = s.match(/^[+\-]?(\d+\.?\d*|\.\d+)/);
    return m ? [0, parseFloat(m[0])] : [1, s.toLowerCase()];
  }
  function sort(table, th) {
    var col = +th.getAttribute('data-col');
    var down = th.getAttribute('aria-sort') === 'ascending';
    var bodies = table.tBodies;
    var many = bodies.length > 1;
    var parent = many ? table : bodies[0];
    var groups = Array.prototype.slice.call(many ? bodies : bodies[0].rows);
    groups.sort(function (a, b) {
      var x = key(a, col), y = key(b, col);
      var c = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
      return x[0] === y[0] && down ? -c : c;
    });
    groups.forEach(function (g) { parent.appendChild(g); });
    table.querySelectorAll('th[aria-sort]').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th[data-col]').forEach(function (th) {
      th.classList.add('sort');
      th.title = 'sort by this column';
      th.addEventListener('click', function () { sort(table, th); });
    });
  });
})();
