// Two fixes that let the ipywidgets HTML manager (1.0.6) work inside a Jupyter Book 1 page.
// Loaded before require.js / embed-amd.js (first entry of nb_ipywidgets_js in _config.yml).

// 1. pydata-sphinx-theme's Font Awesome replaces every <i class="fa"> with an <svg>; the Play widget
//    then fails to update its <i> icon, and the exception aborts the remaining jslink listeners.
//    'nest' puts the svg inside the <i> instead, so the <i> survives.
window.FontAwesomeConfig = Object.assign(window.FontAwesomeConfig || {}, {autoReplaceSvg: 'nest'});

// 2. The manager typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue); the book loads
//    MathJax 3, which has no Hub. Map the one call it makes onto MathJax 3's typesetPromise. Registered
//    now, so it runs before the manager renders (it renders on DOMContentLoaded too, registered later).
document.addEventListener('DOMContentLoaded', function () {
  var mj = window.MathJax;
  if (mj && !mj.Hub) {
    mj.Hub = {Queue: function (cmd) {
      var el = Array.isArray(cmd) ? cmd[2] : null;
      if (el && mj.typesetPromise) { mj.typesetPromise([el]).catch(function () {}); }
    }};
  }
});
