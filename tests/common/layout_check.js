// Run in the page by `Browser::layout_problems` (tests/common/browser.rs) as a function body.
const named = new Set();
let rules = 0;
const walk = (list) => {
  for (const rule of list) {
    rules += 1;
    if (rule.selectorText) {
      for (const m of rule.selectorText.matchAll(/\.(-?[_a-zA-Z][_a-zA-Z0-9-]*)/g)) named.add(m[1]);
    }
    if (rule.cssRules) walk(rule.cssRules);
  }
};
for (const sheet of document.styleSheets) walk(sheet.cssRules);
const used = new Set();
for (const element of document.querySelectorAll('[class]')) {
  for (const name of element.classList) used.add(name);
}
const clipped = (element) => {
  for (let e = element.parentElement; e && e !== document.body; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (style.overflowX !== 'visible') return true;
  }
  return false;
};
const width = window.innerWidth;
const wide = [];
for (const element of document.body.querySelectorAll('*')) {
  const box = element.getBoundingClientRect();
  if (box.width > 0 && box.right > width + 0.5 && !clipped(element)) {
    const name = element.tagName.toLowerCase() + (element.className ? '.' + String(element.className).trim().split(/\s+/).join('.') : '');
    wide.push(name + ' (' + Math.round(box.left) + '..' + Math.round(box.right) + ')');
    if (wide.length >= 8) break;
  }
}
const rgba = (color) => {
  const m = color.match(/rgba?\(([^)]+)\)/);
  if (!m) return [0, 0, 0, 0];
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, below) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat([1]);
};
const background = (element) => {
  const layers = [];
  for (let e = element; e; e = e.parentElement) {
    const layer = rgba(getComputedStyle(e).backgroundColor);
    if (layer[3] > 0) layers.push(layer);
    if (layer[3] >= 1) break;
  }
  return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]);
};
const luminance = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const faint = [];
for (const element of document.body.querySelectorAll('*')) {
  if (element.closest('.visually-hidden, option, select')) continue;
  const text = [...element.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
  if (!text) continue;
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  if (style.visibility !== 'visible' || box.width === 0 || box.height === 0) continue;
  const back = background(element);
  const fore = over(rgba(style.color), back);
  const [light, dark] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
  const ratio = (light + 0.05) / (dark + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) {
    const name = element.tagName.toLowerCase() + (element.className ? '.' + String(element.className).trim().split(/\s+/).join('.') : '');
    faint.push(name + ' "' + text.slice(0, 30) + '" ' + ratio.toFixed(2) + ':1');
    if (faint.length >= 8) break;
  }
}
return {
  rules,
  overflow: document.scrollingElement.scrollWidth - width,
  wide,
  unstyled: [...used].filter((name) => !named.has(name)).sort(),
  faint,
};
