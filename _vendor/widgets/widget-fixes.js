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

// 3. The widget bundle's CSS declares Font Awesome 4 and 5 @font-face rules whose font URLs webpack
//    resolves against the page (book/theory/@jupyter-widgets/html-manager/dist/*.woff2 ...): six 404s per
//    widget page. The icons are drawn by the theme's Font Awesome 6 (svg, see 1.), so drop those
//    @font-face rules from the CSS text as the bundle's style-loader appends it to its <style> elements
//    (patching appendChild/insertBefore: a MutationObserver runs too late, the fonts are already asked for).
(function () {
  var FA = /@font-face\s*\{[^}]*Font ?Awesome[^}]*\}/g;   // "FontAwesome", "Font Awesome 5 Free/Brands"
  function clean(parent, child) {
    if (parent && parent.nodeName === 'STYLE' && child && child.nodeType === 3 && child.data.indexOf('Awesome') >= 0) {
      child.data = child.data.replace(FA, '');
    } else if (child && child.nodeName === 'STYLE' && child.textContent.indexOf('Awesome') >= 0) {
      child.textContent = child.textContent.replace(FA, '');
    }
  }
  var append = Node.prototype.appendChild, insert = Node.prototype.insertBefore;
  Node.prototype.appendChild = function (child) { clean(this, child); return append.call(this, child); };
  Node.prototype.insertBefore = function (child, ref) { clean(this, child); return insert.call(this, child, ref); };
})();

// 4. This file is loaded only by the static book pages, which have no kernel: hide the "live" part of a
//    frame widget (plasticity_sim.widgets, live=True), whose controls would change a readout while the
//    figure stays put. In Jupyter (Binder, Colab, a local server) this file is not loaded and they show.
(function () {
  var style = document.createElement('style');
  style.textContent = '.plive { display: none !important; }';
  document.head.appendChild(style);
})();

// 5. An ipywidgets Image has no alt attribute. plasticity_sim.widgets.frame_widget(caption=, alt=) stores
//    the widget's alt text and each frame's control values on its caption (<p class="pcaption" data-alt
//    data-frames>); copy them onto every frame <img> as "<alt> Shown: <values>." as the manager renders
//    them (the same text as plasticity_sim.widgets.frame_alt). The live frame gets the alt alone.
(function () {
  function label(root) {
    var cap = root.querySelector('.pcaption[data-alt]');
    if (!cap) { return; }
    var alt = cap.getAttribute('data-alt'), frames = {};
    try { frames = JSON.parse(cap.getAttribute('data-frames') || '{}'); } catch (e) { frames = {}; }
    root.querySelectorAll('img.pframe').forEach(function (img) {
      var key = Array.from(img.classList).find(function (c) { return /^pframe-\d/.test(c); });
      var want = alt + (key && frames[key] ? ' Shown: ' + frames[key] + '.' : '');
      if (img.getAttribute('alt') !== want) { img.setAttribute('alt', want); }
    });
    root.querySelectorAll('img.plive-frame').forEach(function (img) {
      if (img.getAttribute('alt') !== alt) { img.setAttribute('alt', alt); }
    });
  }
  function scan() { document.querySelectorAll('.pwidget').forEach(label); }
  // Label only the widgets a change touched (the theme and MathJax change nodes all over the page):
  // the widget around the changed node, and any widget inside an added subtree.
  function touched(records) {
    var roots = new Set();
    records.forEach(function (r) {
      var el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      var root = el && el.closest('.pwidget');
      if (root) { roots.add(root); }
      r.addedNodes.forEach(function (n) {
        if (n.nodeType !== 1) { return; }
        if (n.matches('.pwidget')) { roots.add(n); }
        n.querySelectorAll('.pwidget').forEach(function (w) { roots.add(w); });
      });
    });
    roots.forEach(label);
  }
  // The manager attaches views before it fills them (the caption's HTML, an image's class and src come
  // later), so watch those attributes too; setting alt is not watched, so labelling cannot loop.
  function start() {
    scan();
    new MutationObserver(touched).observe(document.body, {childList: true, subtree: true, attributes: true,
                                                          attributeFilter: ['class', 'src', 'data-alt']});
  }
  // Loaded in <head> the page is still parsing; loaded later (another theme, a page that moves
  // scripts) DOMContentLoaded may have fired already: start at once then.
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
  window.addEventListener('load', scan);
})();
