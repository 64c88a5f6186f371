/**
 * The observer's web page: HTML, CSS and script in one document, with no build step and no
 * external resource (the server's Content-Security-Policy allows exactly this script and this
 * style, by hash). The script reads `/api/events` (Server-Sent Events) with the token of the
 * page's own URL, renders each node's supervision trees, threads, peers and processes, flashes
 * what crashes or restarts, and (when the server allows actions) offers kill, restart and stop.
 *
 * Everything shown comes from the server as data and is written with `textContent`: names
 * and error messages are never parsed as HTML.
 */

/** The page's style sheet. */
export const PAGE_CSS = String.raw`
:root {
  --bg: #0d1016; --panel: #151922; --panel2: #1b202b; --line: #262c39; --line2: #313847;
  --text: #d9dee7; --muted: #8a93a4; --faint: #5d6575; --accent: #6ea8ff; --accent2: #2f6fde;
  --ok: #3fb97a; --warn: #e0a93b; --err: #f2555a; --sup: #b48cff; --thr: #3cc6c0; --wrk: #6ea8ff;
  --flash: rgba(242, 85, 90, .45); --row: 28px;
  color-scheme: dark;
}
@media (prefers-color-scheme: light) {
  :root {
    --bg: #f4f5f8; --panel: #ffffff; --panel2: #f7f8fb; --line: #e3e6ec; --line2: #d5d9e1;
    --text: #1d2230; --muted: #5f6879; --faint: #9aa2b1; --accent: #2f6fde; --accent2: #2f6fde;
    --ok: #16894f; --warn: #b27700; --err: #d2353b; --sup: #7d4fd8; --thr: #138f8a; --wrk: #2f6fde;
    --flash: rgba(210, 53, 59, .25);
    color-scheme: light;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body {
  background: var(--bg); color: var(--text);
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-font-smoothing: antialiased;
}
.mono, .tn-ref, .cell.ref, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; }
button { font: inherit; color: inherit; }
header.top {
  position: sticky; top: 0; z-index: 5; display: flex; align-items: center; gap: 18px;
  height: 52px; padding: 0 18px; background: var(--panel); border-bottom: 1px solid var(--line);
}
.brand { display: flex; align-items: center; gap: 9px; font-size: 15px; letter-spacing: .2px; white-space: nowrap; }
.brand b { font-weight: 600; }
.logo { width: 18px; height: 18px; border-radius: 50%; border: 3px solid var(--accent); border-right-color: transparent; transform: rotate(-45deg); }
.tabs { display: flex; gap: 4px; overflow-x: auto; flex: 1; min-width: 0; }
.tab {
  border: 1px solid transparent; background: none; padding: 5px 12px; border-radius: 6px; cursor: pointer;
  color: var(--muted); white-space: nowrap; display: flex; align-items: center; gap: 7px;
}
.tab:hover { background: var(--panel2); color: var(--text); }
.tab.active { background: var(--panel2); border-color: var(--line2); color: var(--text); }
.tab .n { color: var(--faint); font-size: 11px; }
.status { display: flex; align-items: center; gap: 10px; color: var(--muted); white-space: nowrap; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
.dot.live { background: var(--ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ok) 25%, transparent); }
.dot.down { background: var(--err); }
.pill { border: 1px solid var(--line2); border-radius: 999px; padding: 1px 9px; font-size: 11px; color: var(--muted); }
.pill.on { border-color: color-mix(in srgb, var(--warn) 60%, transparent); color: var(--warn); }
main.grid { display: grid; grid-template-columns: minmax(330px, 380px) minmax(0, 1fr); gap: 14px; padding: 14px 18px 18px; align-items: start; }
.col { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; min-width: 0; }
.card-h { display: flex; align-items: center; justify-content: space-between; gap: 10px; padding: 10px 14px; border-bottom: 1px solid var(--line); min-height: 44px; }
.card-h h2 { margin: 0; font-size: 12px; font-weight: 600; letter-spacing: .6px; text-transform: uppercase; color: var(--muted); display: flex; align-items: center; gap: 8px; }
.count { background: var(--panel2); border: 1px solid var(--line2); border-radius: 999px; padding: 0 7px; font-size: 11px; color: var(--text); letter-spacing: 0; }
.muted { color: var(--muted); }
.tools { display: flex; gap: 6px; }
.btn { border: 1px solid var(--line2); background: var(--panel2); border-radius: 6px; padding: 3px 9px; cursor: pointer; font-size: 12px; color: var(--muted); }
.btn:hover { color: var(--text); border-color: var(--faint); }
.btn.danger { color: var(--err); border-color: color-mix(in srgb, var(--err) 40%, transparent); background: transparent; }
.btn.danger:hover { background: color-mix(in srgb, var(--err) 14%, transparent); }
.btn.sm { padding: 0 7px; font-size: 11px; line-height: 18px; }
.tree-card { max-height: max(320px, calc(100vh - 300px)); display: flex; flex-direction: column; }
.left { position: sticky; top: 66px; }
.tree { overflow: auto; padding: 8px 6px 10px; }
.tn-row {
  display: flex; align-items: center; gap: 7px; height: 28px; padding: 0 8px 0 calc(6px + var(--depth, 0) * 16px);
  border-radius: 6px; white-space: nowrap;
}
.tn-row:hover { background: var(--panel2); }
.tn-row .act { display: none; gap: 4px; margin-left: 4px; }
.tn-row:hover .act { display: inline-flex; }
.twisty { width: 16px; height: 16px; border: 0; background: none; padding: 0; cursor: pointer; color: var(--faint); display: inline-grid; place-items: center; flex: none; }
.twisty::before { content: ""; border: 4px solid transparent; border-left: 5px solid currentColor; border-right: 0; transform: rotate(90deg); transition: transform .12s; }
.tn.collapsed > .tn-row .twisty::before { transform: none; }
.tn.collapsed > .tn-kids { display: none; }
.twisty.leaf { visibility: hidden; }
.kind { width: 18px; height: 18px; border-radius: 5px; display: inline-grid; place-items: center; font-size: 10px; font-weight: 700; flex: none; color: #fff; }
.kind.supervisor { background: var(--sup); }
.kind.worker { background: var(--wrk); }
.kind.thread { background: var(--thr); }
.kind.none { background: var(--faint); }
.tn-id { font-weight: 600; overflow: hidden; text-overflow: ellipsis; }
.tn-ref { color: var(--muted); font-size: 11px; }
.tn-ref.dead { color: var(--err); }
.badge { font-size: 10.5px; border-radius: 4px; padding: 0 5px; line-height: 17px; border: 1px solid var(--line2); color: var(--muted); flex: none; }
.badge.thr { color: var(--thr); border-color: color-mix(in srgb, var(--thr) 45%, transparent); }
.badge.rs { color: var(--muted); }
.badge.rs.hot { color: var(--warn); border-color: color-mix(in srgb, var(--warn) 50%, transparent); }
.badge.budget.low { color: var(--warn); }
.badge.budget.out { color: var(--err); border-color: color-mix(in srgb, var(--err) 50%, transparent); }
.spacer { flex: 1; }
.more { color: var(--faint); padding: 2px 0 2px calc(30px + var(--depth, 0) * 16px); font-size: 12px; }
@keyframes flash { 0% { background: var(--flash); box-shadow: inset 3px 0 0 var(--err); } 100% { background: transparent; box-shadow: inset 3px 0 0 transparent; } }
.flash { animation: flash 1.6s ease-out; }
.threads { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 10px; padding: 12px 14px 14px; }
.tcard { border: 1px solid var(--line); background: var(--panel2); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.tcard .muted { font-size: 12px; }
.th-h { display: flex; align-items: center; justify-content: space-between; margin-bottom: 8px; }
.th-h b { font-weight: 600; }
.wd { white-space: nowrap; font-size: 10.5px; border-radius: 999px; padding: 0 7px; line-height: 17px; border: 1px solid var(--line2); color: var(--muted); }
.wd.ok { color: var(--ok); border-color: color-mix(in srgb, var(--ok) 45%, transparent); }
.wd.late { color: var(--err); border-color: color-mix(in srgb, var(--err) 50%, transparent); }
.meter { display: grid; grid-template-columns: 34px 1fr 40px; align-items: center; gap: 8px; font-size: 12px; margin-bottom: 7px; }
.meter label { color: var(--muted); }
.bar { height: 6px; border-radius: 3px; background: var(--line); overflow: hidden; }
.bar i { display: block; height: 100%; width: 0; background: var(--accent); border-radius: 3px; transition: width .4s; }
.bar i.warn { background: var(--warn); }
.bar i.err { background: var(--err); }
.meter span { text-align: right; font-variant-numeric: tabular-nums; }
.kv { display: grid; grid-template-columns: 1.5fr 1fr 1fr; gap: 6px; }
.kv div { display: flex; flex-direction: column; }
.kv small { color: var(--muted); font-size: 10.5px; text-transform: uppercase; letter-spacing: .4px; }
.kv b { font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.peers { width: 100%; border-collapse: collapse; font-size: 12px; }
table.peers th { text-align: left; font-weight: 500; color: var(--muted); padding: 7px 14px; border-bottom: 1px solid var(--line); }
table.peers th.num { text-align: right; }
table.peers td { padding: 7px 14px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
table.peers tr:last-child td { border-bottom: 0; }
.st { display: inline-flex; align-items: center; gap: 6px; }
.st::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: var(--faint); }
.st.connected::before { background: var(--ok); }
.st.connecting::before { background: var(--warn); }
.st.disconnected::before { background: var(--err); }
.hist { display: inline-flex; gap: 2px; vertical-align: middle; }
.hist i { width: 6px; height: 12px; border-radius: 2px; background: var(--ok); }
.hist i.down { background: var(--err); }
.empty { padding: 14px; color: var(--muted); font-size: 12px; }
.filter { width: 280px; max-width: 50%; background: var(--panel2); border: 1px solid var(--line2); border-radius: 6px; color: var(--text); padding: 4px 10px; font: inherit; font-size: 12px; outline: none; }
.filter:focus { border-color: var(--accent); }
.ptable { overflow-x: auto; }
.prow { display: grid; grid-template-columns: 74px minmax(100px, 1fr) 82px 36px 70px 72px 62px 70px 50px 46px 50px 48px; align-items: center; height: var(--row); padding: 0 6px; min-width: 780px; }
.prow > * { padding: 0 5px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.phead { border-bottom: 1px solid var(--line); color: var(--muted); font-size: 11px; font-weight: 500; height: 32px; }
.phead > span { cursor: pointer; user-select: none; }
.phead > span:hover { color: var(--text); }
.phead > span.sorted { color: var(--accent); }
.phead > span.sorted.asc::after { content: " \25B2"; font-size: 8px; }
.phead > span.sorted.desc::after { content: " \25BC"; font-size: 8px; }
.pbody { position: relative; height: 392px; overflow-y: auto; overflow-x: hidden; min-width: 780px; contain: strict; }
.pspacer { width: 1px; }
.pempty { position: absolute; left: 0; right: 0; top: 0; padding: 14px; color: var(--muted); font-size: 12px; }
.pempty[hidden] { display: none; }
.pbody .prow { position: absolute; left: 0; right: 0; top: 0; border-bottom: 1px solid color-mix(in srgb, var(--line) 60%, transparent); font-size: 12px; }
.pbody .prow:hover { background: var(--panel2); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.kindtag { font-size: 11px; color: var(--muted); }
.kindtag.supervisor { color: var(--sup); }
.kindtag.thread { color: var(--thr); }
.kindtag.gen_server { color: var(--wrk); }
.stt.running { color: var(--ok); }
.stt.init, .stt.stopping { color: var(--warn); }
.hot { color: var(--warn); }
.bad { color: var(--err); }
.names { color: var(--text); }
.names.none { color: var(--faint); }
.log { max-height: 200px; overflow: auto; }
.log .le { display: grid; grid-template-columns: 58px 100px minmax(0, 1fr) auto; gap: 10px; padding: 6px 14px; border-bottom: 1px solid var(--line); font-size: 12px; align-items: center; }
.log .le:last-child { border-bottom: 0; }
.log .le > * { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.okt { color: var(--ok); }
.errt { color: var(--err); }
.modal { position: fixed; inset: 0; background: rgba(0, 0, 0, .45); display: grid; place-items: center; z-index: 20; }
.modal[hidden] { display: none; }
.dialog { background: var(--panel); border: 1px solid var(--line2); border-radius: 10px; padding: 18px 20px; width: 420px; box-shadow: 0 20px 50px rgba(0, 0, 0, .4); }
.dialog h3 { margin: 0 0 8px; font-size: 15px; }
.dialog p { margin: 0 0 16px; color: var(--muted); word-break: break-all; }
.dialog .row { display: flex; justify-content: flex-end; gap: 8px; }
.dialog .btn { padding: 5px 14px; font-size: 13px; }
.dialog .btn.danger { background: var(--err); border-color: var(--err); color: #fff; }
.toast { position: fixed; right: 18px; bottom: 18px; background: var(--panel); border: 1px solid var(--line2); border-radius: 8px; padding: 9px 14px; box-shadow: 0 10px 30px rgba(0, 0, 0, .3); z-index: 30; max-width: 420px; }
.toast[hidden] { display: none; }
@media (max-width: 980px) { main.grid { grid-template-columns: 1fr; } .left { position: static; } .tree-card { max-height: 480px; } }
`;

/** The page's script (runs in the browser). */
export const PAGE_JS = String.raw`
(function () {
  'use strict';
  var ROW_H = 28, MARGIN = 8, MAX_KIDS = 300, FLASH_MS = 1600;
  var token = new URLSearchParams(location.search).get('token');
  var S = {
    snap: null, node: null, collapsed: new Set(), sort: { key: 'ref', dir: 1 }, filter: '',
    rows: [], flashRefs: new Map(), flashKeys: new Map(), restarts: new Map(), actions: false,
    lastAt: 0, live: false, pool: [], renderQueued: false
  };
  function $(id) { return document.getElementById(id); }
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }
  function api(path) { return token ? path + (path.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token) : path; }
  function shortRef(r) {
    if (!r) return '—';
    var m = /\/(\d+)\/(\d+)>$/.exec(r);
    return m ? '<' + m[1] + '.' + m[2] + '>' : r;
  }
  function refKey(r) {
    var m = /\/(\d+)\/(\d+)>$/.exec(r || '');
    return m ? Number(m[1]) * 1e9 + Number(m[2]) : 0;
  }
  function fmtNum(n) {
    if (n === null || n === undefined) return '—';
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n * 10) / 10);
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) return '—';
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KB';
    return Math.round(n) + ' B';
  }
  function fmtTime(at) {
    var d = new Date(at);
    function p(x) { return (x < 10 ? '0' : '') + x; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function view() {
    if (!S.snap) return null;
    var nodes = S.snap.nodes || [];
    for (var i = 0; i < nodes.length; i++) if (nodes[i].node === S.node) return nodes[i];
    // First choice: the first node that runs something (an observer that joined a cluster runs nothing).
    for (var j = 0; j < nodes.length; j++) if (nodes[j].processes.length > 0) return nodes[j];
    return nodes[0] || null;
  }
  function flashing(map, key) {
    var until = map.get(key);
    if (until === undefined) return false;
    if (until < Date.now()) { map.delete(key); return false; }
    return true;
  }

  // ---- header: node tabs and status ----
  function renderTabs() {
    var tabs = $('tabs');
    tabs.textContent = '';
    var nodes = S.snap ? S.snap.nodes : [];
    nodes.forEach(function (n) {
      var b = h('button', {
        class: 'tab' + (n.node === S.node ? ' active' : ''), 'data-testid': 'node-tab', 'data-node': n.node, role: 'tab',
        onclick: function () { S.node = n.node; S.pool.forEach(function (r) { r.el.remove(); }); S.pool = []; $('pbody').scrollTop = 0; render(); }
      }, h('span', { text: n.node }), h('span', { class: 'n', text: n.processes.length + ' procs' }));
      tabs.append(b);
    });
  }
  function renderStatus() {
    var dot = $('conn');
    dot.className = 'dot ' + (S.live ? 'live' : 'down');
    $('conn-text').textContent = S.live ? 'live' : 'reconnecting…';
    $('updated').textContent = S.lastAt ? 'updated ' + fmtTime(S.lastAt) : '';
    var a = $('actions-flag');
    a.textContent = S.actions ? 'actions enabled' : 'read-only';
    a.className = 'pill' + (S.actions ? ' on' : '');
  }

  // ---- supervision tree ----
  var treeSig = '';
  function renderTree(v, force) {
    var root = $('tree');
    // Rebuilt only when something shown changed: a button under the pointer stays put.
    var flashes = [];
    S.flashKeys.forEach(function (until, k) { if (until >= Date.now()) flashes.push(k + until); });
    S.flashRefs.forEach(function (until, k) { if (until >= Date.now()) flashes.push(k + until); });
    var sig = v ? JSON.stringify([v.node, v.trees, S.actions, flashes, Array.from(S.restarts)]) : '';
    if (!force && sig === treeSig) return;
    treeSig = sig;
    var scroll = root.scrollTop;
    root.textContent = '';
    if (!v || v.trees.length === 0) { root.append(h('div', { class: 'empty', text: 'No supervision tree on this node.' })); return; }
    v.trees.forEach(function (t, i) { root.append(treeNode(v, t, null, v.node + '|' + i, 0)); });
    root.scrollTop = scroll;
  }
  function treeNode(v, t, parent, key, depth) {
    var kids = t.children || [];
    var label = t.id === null ? (t.kind === 'thread' ? 'thread' : 'root') : t.id;
    var restarts = t.restartCount;
    var local = S.restarts.get(key);
    if (local !== undefined) { if (local > restarts) restarts = local; else S.restarts.delete(key); }
    var flash = flashing(S.flashKeys, key) || (t.ref !== null && flashing(S.flashRefs, t.ref));
    var row = h('div', { class: 'tn-row' + (flash ? ' flash' : ''), 'data-flash': flash ? '1' : null },
      h('button', {
        class: 'twisty' + (kids.length ? '' : ' leaf'), 'aria-label': 'toggle', tabindex: kids.length ? null : '-1',
        onclick: function () {
          if (S.collapsed.has(key)) S.collapsed.delete(key); else S.collapsed.add(key);
          el.classList.toggle('collapsed');
        }
      }),
      h('span', { class: 'kind ' + (t.ref === null ? 'none' : t.kind), title: t.kind, text: t.kind === 'supervisor' ? 'S' : t.kind === 'thread' ? 'T' : 'W' }),
      h('span', { class: 'tn-id', text: label }),
      h('span', { class: 'tn-ref' + (t.ref === null ? ' dead' : ''), title: t.ref || 'not running', text: t.ref === null ? 'not running' : shortRef(t.ref) }),
      t.thread !== 0 || t.kind === 'thread' ? h('span', { class: 'badge thr', title: 'runs on thread ' + t.thread, text: 'T' + t.thread }) : null,
      h('span', { class: 'spacer' }),
      parent !== null ? h('span', { class: 'badge rs' + (restarts > 0 ? ' hot' : ''), 'data-testid': 'restarts', title: 'restarts by its supervisor', text: '↻ ' + restarts }) : null,
      t.budget ? h('span', {
        class: 'badge budget' + (t.budget.remaining === 0 ? ' out' : t.budget.remaining <= 1 ? ' low' : ''),
        'data-testid': 'budget',
        title: 'restart intensity: ' + t.budget.recent + ' recent restarts, ' + t.budget.remaining + ' of ' + t.budget.maxRestarts + ' left within ' + (t.budget.withinMs / 1000) + ' s',
        text: t.budget.remaining + '/' + t.budget.maxRestarts
      }) : null,
      S.actions ? actionButtons(t, parent) : null
    );
    var el = h('div', {
      class: 'tn' + (S.collapsed.has(key) ? ' collapsed' : ''), 'data-testid': 'tree-node', 'data-key': key,
      'data-ref': t.ref || '', 'data-id': t.id === null ? '' : t.id, 'data-kind': t.kind, 'data-thread': t.thread, 'data-restarts': restarts
    }, row);
    row.style.setProperty('--depth', String(depth));
    if (kids.length) {
      var box = h('div', { class: 'tn-kids' });
      kids.slice(0, MAX_KIDS).forEach(function (c, i) { box.append(treeNode(v, c, t, key + '/' + (c.id === null ? '#' + i : c.id), depth + 1)); });
      if (kids.length > MAX_KIDS) {
        var more = h('div', { class: 'more', text: '… ' + (kids.length - MAX_KIDS) + ' more children' });
        more.style.setProperty('--depth', String(depth + 1));
        box.append(more);
      }
      el.append(box);
    }
    return el;
  }
  function actionButtons(t, parent) {
    var box = h('span', { class: 'act' });
    if (t.ref !== null && t.kind === 'worker')
      box.append(h('button', { class: 'btn sm danger', 'data-testid': 'kill', 'data-ref': t.ref, text: 'kill', onclick: function (e) { e.stopPropagation(); confirmAction('kill', { ref: t.ref }, 'Kill ' + (t.id || t.ref) + '?', 'Sends the untrappable exit signal kill to ' + t.ref + '. Its supervisor decides what happens next.'); } }));
    if (parent !== null && parent.kind === 'supervisor' && parent.ref !== null && t.id !== null)
      box.append(h('button', { class: 'btn sm', 'data-testid': 'restart', 'data-ref': parent.ref, 'data-id': t.id, text: 'restart', onclick: function (e) { e.stopPropagation(); confirmAction('restart_child', { ref: parent.ref, id: t.id }, 'Restart child ' + t.id + '?', 'Terminates child ' + JSON.stringify(t.id) + ' of ' + parent.ref + ', then starts it again from its spec.'); } }));
    if (t.ref !== null && t.kind === 'supervisor')
      box.append(h('button', { class: 'btn sm danger', 'data-testid': 'stop', 'data-ref': t.ref, text: 'stop', onclick: function (e) { e.stopPropagation(); confirmAction('stop_tree', { ref: t.ref }, 'Stop supervisor ' + (t.id || t.ref) + '?', 'Stops every child of ' + t.ref + ' in reverse order, then the supervisor itself. Its own supervisor may restart it.'); } }));
    return box;
  }
  function findTreeKey(v, pred) {
    var found = null;
    function walk(t, parent, key) {
      if (found !== null) return;
      if (pred(t, parent)) { found = key; return; }
      (t.children || []).forEach(function (c, i) { walk(c, t, key + '/' + (c.id === null ? '#' + i : c.id)); });
    }
    v.trees.forEach(function (t, i) { walk(t, null, v.node + '|' + i); });
    return found;
  }

  // ---- threads ----
  function renderThreads(v) {
    var box = $('threads');
    box.textContent = '';
    if (!v) return;
    v.threads.forEach(function (th) {
      var elu = th.elu === null ? null : Math.max(0, Math.min(1, th.elu));
      var bar = h('i', { class: elu === null ? '' : elu > 0.9 ? 'err' : elu > 0.6 ? 'warn' : '' });
      bar.style.width = (elu === null ? 0 : Math.round(elu * 100)) + '%';
      var wd = th.watchdog || { state: 'off' };
      box.append(h('div', { class: 'tcard', 'data-testid': 'thread-card', 'data-thread': th.thread },
        h('div', { class: 'th-h' },
          h('span', null, h('b', { text: 'Thread ' + th.thread }), ' ', h('span', { class: 'muted', text: th.thread === 0 ? 'main' : 'worker' })),
          h('span', { class: 'wd ' + wd.state, title: wd.limitMs === null || wd.limitMs === undefined ? 'no watchdog' : 'watchdog limit ' + wd.limitMs + ' ms' + (wd.silentMs === null ? '' : ', silent ' + Math.round(wd.silentMs) + ' ms'), text: wd.state === 'off' ? 'no watchdog' : 'watchdog ' + wd.state })),
        h('div', { class: 'meter' }, h('label', { text: 'ELU' }), h('div', { class: 'bar' }, bar), h('span', { text: elu === null ? '—' : Math.round(elu * 100) + '%' })),
        h('div', { class: 'kv' },
          h('div', null, h('small', { text: 'heap' }), h('b', { text: th.heapUsed === null ? '—' : (th.heapUsed / 1048576).toFixed(1) + ' MB' })),
          h('div', null, h('small', { text: 'in/s' }), h('b', { text: fmtNum(th.inPerSec) })),
          h('div', null, h('small', { text: 'out/s' }), h('b', { text: fmtNum(th.outPerSec) }))),
        h('div', { class: 'muted', text: th.processes + ' processes' })
      ));
    });
    var rate = 0;
    v.processes.forEach(function (p) { rate += p.rate; });
    $('summary').textContent = v.threads.length + ' threads · ' + fmtNum(rate) + ' msg/s';
  }

  // ---- peers ----
  function renderPeers(v) {
    var box = $('peers');
    box.textContent = '';
    if (!v || v.peers.length === 0) { box.append(h('div', { class: 'empty', text: 'No peers: this node is not in a cluster, or has not met another node yet.' })); return; }
    var tb = h('tbody');
    v.peers.forEach(function (p) {
      var hist = h('span', { class: 'hist' });
      p.history.slice(-16).forEach(function (e) { hist.append(h('i', { class: e.event, title: fmtTime(e.at) + ' ' + e.event + (e.reason ? ' (' + e.reason + ')' : '') })); });
      tb.append(h('tr', { 'data-testid': 'peer-row', 'data-peer': p.id },
        h('td', { class: 'mono', text: p.id }),
        h('td', null, h('span', { class: 'st ' + p.status, text: p.status })),
        h('td', { class: 'num', text: fmtBytes(p.bytesInPerSec) + '/s' }),
        h('td', { class: 'num', text: fmtBytes(p.bytesOutPerSec) + '/s' }),
        h('td', { class: 'num', text: fmtNum(p.framesInPerSec) + ' / ' + fmtNum(p.framesOutPerSec) }),
        h('td', { class: 'num' + (p.heartbeatLagMs !== null && p.heartbeatLagMs > 2000 ? ' bad' : ''), text: p.heartbeatLagMs === null ? '—' : Math.round(p.heartbeatLagMs) + ' ms' }),
        h('td', null, hist)));
    });
    box.append(h('table', { class: 'peers' },
      h('thead', null, h('tr', null, h('th', { text: 'node' }), h('th', { text: 'status' }), h('th', { class: 'num', text: 'in' }), h('th', { class: 'num', text: 'out' }), h('th', { class: 'num', text: 'frames in/out /s' }), h('th', { class: 'num', text: 'heartbeat lag' }), h('th', { text: 'up / down' }))),
      tb));
  }

  // ---- processes: a virtualised table ----
  var COLS = [
    { key: 'ref', label: 'ref' }, { key: 'names', label: 'names' }, { key: 'kind', label: 'kind' },
    { key: 'thread', label: 'thr', num: true }, { key: 'status', label: 'status' }, { key: 'mailbox', label: 'mailbox', num: true },
    { key: 'rate', label: 'msg/s', num: true }, { key: 'handled', label: 'handled', num: true }, { key: 'dropped', label: 'drop', num: true },
    { key: 'links', label: 'links', num: true }, { key: 'monitors', label: 'mon', num: true }, { key: null, label: '' }
  ];
  function sortValue(p, key) {
    switch (key) {
      case 'ref': return refKey(p.ref);
      case 'names': return p.names.length ? p.names[0].toLowerCase() : '\uffff';
      case 'links': return p.links.length;
      case 'monitors': return p.monitors + p.monitoredBy;
      default: return p[key];
    }
  }
  function renderHead() {
    var head = $('phead');
    head.textContent = '';
    COLS.forEach(function (c) {
      var s = h('span', {
        class: (c.num ? 'num ' : '') + (S.sort.key === c.key && c.key ? 'sorted ' + (S.sort.dir > 0 ? 'asc' : 'desc') : ''),
        'data-testid': c.key ? 'sort-' + c.key : null, text: c.label,
        onclick: c.key ? function () {
          if (S.sort.key === c.key) S.sort.dir = -S.sort.dir; else { S.sort.key = c.key; S.sort.dir = c.num ? -1 : 1; }
          renderHead(); computeRows(); renderRows();
        } : null
      });
      head.append(s);
    });
  }
  function computeRows() {
    var v = view();
    var list = v ? v.processes.slice() : [];
    var f = S.filter.trim().toLowerCase();
    if (f) list = list.filter(function (p) {
      return (p.ref + ' ' + shortRef(p.ref) + ' ' + p.names.join(' ') + ' ' + p.kind + ' ' + p.status + ' t' + p.thread).toLowerCase().indexOf(f) >= 0;
    });
    var key = S.sort.key, dir = S.sort.dir;
    list.sort(function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      if (x < y) return -dir;
      if (x > y) return dir;
      return refKey(a.ref) - refKey(b.ref);
    });
    S.rows = list;
    $('pcount').textContent = f ? list.length + ' / ' + (v ? v.processes.length : 0) : String(v ? v.processes.length : 0);
    $('pspacer').style.height = list.length * ROW_H + 'px';
    $('pempty').hidden = list.length > 0;
    $('pempty').textContent = f ? 'No process matches the filter.' : v ? 'No process on this node.' : 'Waiting for data…';
    if (v && v.truncated) $('pcount').textContent += '+';
  }
  function makeRow() {
    var el = h('div', { class: 'prow', 'data-testid': 'process-row' });
    var cells = [];
    for (var i = 0; i < COLS.length; i++) {
      var c = h('span', { class: (COLS[i].num ? 'num' : '') + (COLS[i].key === 'ref' ? ' cell ref' : '') });
      cells.push(c);
      el.append(c);
    }
    var kill = h('button', { class: 'btn sm danger', 'data-testid': 'kill', text: 'kill' });
    kill.addEventListener('click', function () {
      var ref = el.getAttribute('data-ref');
      confirmAction('kill', { ref: ref }, 'Kill ' + (el.getAttribute('data-name') || ref) + '?', 'Sends the untrappable exit signal kill to ' + ref + '. Its supervisor decides what happens next.');
    });
    return { el: el, cells: cells, kill: kill, ref: null, withKill: false };
  }
  function renderRows() {
    var body = $('pbody');
    var top = body.scrollTop, height = body.clientHeight || 392;
    var first = Math.max(0, Math.floor(top / ROW_H) - MARGIN);
    var last = Math.min(S.rows.length, Math.ceil((top + height) / ROW_H) + MARGIN);
    var need = Math.max(0, last - first);
    while (S.pool.length < need) { var r = makeRow(); S.pool.push(r); body.append(r.el); }
    for (var i = 0; i < S.pool.length; i++) {
      var row = S.pool[i];
      if (i >= need) { row.el.hidden = true; continue; }
      var idx = first + i, p = S.rows[idx];
      row.el.hidden = false;
      row.el.style.transform = 'translateY(' + idx * ROW_H + 'px)';
      var flash = flashing(S.flashRefs, p.ref);
      if (row.ref !== p.ref || row.flash !== flash) {
        row.el.className = 'prow' + (flash ? ' flash' : '');
        row.flash = flash;
      }
      row.ref = p.ref;
      row.el.setAttribute('data-ref', p.ref);
      row.el.setAttribute('data-name', p.names[0] || '');
      var c = row.cells;
      c[0].textContent = shortRef(p.ref); c[0].title = p.ref;
      c[1].textContent = p.names.length ? p.names.join(', ') : '—'; c[1].className = 'names' + (p.names.length ? '' : ' none'); c[1].title = p.names.join(', ');
      c[2].textContent = p.kind === 'gen_server' ? 'gen_server' : p.kind; c[2].className = 'kindtag ' + p.kind;
      c[3].textContent = String(p.thread);
      c[4].textContent = p.status + (p.busy ? ' ●' : ''); c[4].className = 'stt ' + p.status; c[4].title = p.busy ? 'a handler is in flight' : '';
      c[5].textContent = fmtNum(p.mailbox) + (p.maxMailbox === null ? '' : ' / ' + fmtNum(p.maxMailbox));
      c[5].className = 'num' + (p.maxMailbox !== null && p.mailbox >= p.maxMailbox * 0.8 ? ' bad' : p.mailbox > 100 ? ' hot' : '');
      c[6].textContent = fmtNum(p.rate);
      c[7].textContent = fmtNum(p.handled);
      c[8].textContent = fmtNum(p.dropped); c[8].className = 'num' + (p.dropped > 0 ? ' bad' : '');
      c[9].textContent = String(p.links.length); c[9].title = p.links.join('\n');
      c[10].textContent = p.monitors + '/' + p.monitoredBy; c[10].title = p.monitors + ' monitors held, ' + p.monitoredBy + ' on it';
      if (row.withKill !== S.actions) {
        if (S.actions) c[COLS.length - 1].append(row.kill); else row.kill.remove();
        row.withKill = S.actions;
      }
      row.kill.setAttribute('data-ref', p.ref);
    }
  }

  // ---- action log ----
  function renderLog() {
    var log = (S.snap && S.snap.log) || [];
    $('log-card').hidden = !S.actions && log.length === 0;
    var box = $('log');
    box.textContent = '';
    if (log.length === 0) { box.append(h('div', { class: 'empty', text: 'No action taken yet.' })); return; }
    log.slice().reverse().forEach(function (r) {
      box.append(h('div', { class: 'le', 'data-testid': 'log-entry', 'data-action': r.action, 'data-ok': r.ok ? '1' : '0' },
        h('span', { class: 'muted mono', text: fmtTime(r.at) }),
        h('b', { text: r.action }),
        h('span', { class: 'mono', title: r.target, text: shortRef(r.target) + (r.id === null ? '' : ' · ' + r.id) }),
        h('span', { class: r.ok ? 'okt' : 'errt', text: r.ok ? 'ok' : 'failed', title: r.error || '' })));
    });
  }

  function render() {
    S.renderQueued = false;
    var v = view();
    if (v && S.node !== v.node) S.node = v.node;
    renderTabs(); renderStatus();
    renderTree(v); renderThreads(v); renderPeers(v);
    computeRows(); renderRows(); renderLog();
    document.body.setAttribute('data-ready', S.snap ? '1' : '0');
  }
  function queueRender() {
    if (S.renderQueued) return;
    S.renderQueued = true;
    requestAnimationFrame(render);
  }

  // ---- actions ----
  var pending = null;
  function confirmAction(action, body, title, text) {
    pending = { action: action, body: body };
    $('modal-title').textContent = title;
    $('modal-text').textContent = text;
    $('modal').hidden = false;
    $('modal-ok').focus();
  }
  function closeModal() { $('modal').hidden = true; pending = null; }
  function toast(text, bad) {
    var t = $('toast');
    t.textContent = text;
    t.className = 'toast ' + (bad ? 'errt' : '');
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 4000);
  }
  function runAction() {
    if (!pending) return;
    var p = pending;
    closeModal();
    var headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    fetch('/api/actions/' + p.action, { method: 'POST', headers: headers, body: JSON.stringify(p.body), cache: 'no-store' })
      .then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); })
      .then(function (r) { toast(r.body.ok ? p.action + ': done' : p.action + ' failed: ' + (r.body.message || r.status), !r.body.ok); })
      .catch(function (e) { toast(p.action + ' failed: ' + e, true); });
  }

  // ---- live updates ----
  function onLifecycle(e) {
    var until = Date.now() + FLASH_MS;
    if (e.event !== 'crashed' && e.event !== 'restarted' && e.event !== 'terminated') return;
    S.flashRefs.set(e.ref, until);
    var v = null, nodes = S.snap ? S.snap.nodes : [];
    for (var i = 0; i < nodes.length; i++) if (nodes[i].node === e.node) v = nodes[i];
    if (!v) v = view();
    if (!v) return;
    if (e.event === 'restarted') {
      var m = /^child ("(?:[^"\\]|\\.)*") of (\S+), restart (\d+)$/.exec(e.detail || '');
      if (m) {
        var id = JSON.parse(m[1]), sup = m[2], count = Number(m[3]);
        var key = findTreeKey(v, function (t, parent) { return parent !== null && parent.ref === sup && t.id === id; });
        if (key !== null) { S.flashKeys.set(key, until); S.restarts.set(key, count); }
      }
    } else {
      var k = findTreeKey(v, function (t) { return t.ref === e.ref; });
      if (k !== null) S.flashKeys.set(k, until);
    }
    queueRender();
  }
  function connect() {
    var es = new EventSource(api('/api/events'));
    es.addEventListener('open', function () { S.live = true; renderStatus(); });
    es.addEventListener('snapshot', function (m) {
      var snap = JSON.parse(m.data);
      S.snap = snap; S.actions = !!snap.actions; S.live = true; S.lastAt = Date.now();
      queueRender();
    });
    es.addEventListener('lifecycle', function (m) { onLifecycle(JSON.parse(m.data)); });
    es.addEventListener('error', function () { S.live = false; renderStatus(); });
  }

  $('pbody').addEventListener('scroll', function () { requestAnimationFrame(renderRows); }, { passive: true });
  $('filter').addEventListener('input', function (e) { S.filter = e.target.value; $('pbody').scrollTop = 0; computeRows(); renderRows(); });
  $('expand').addEventListener('click', function () { S.collapsed.clear(); renderTree(view(), true); });
  $('collapse').addEventListener('click', function () {
    var v = view();
    if (!v) return;
    document.querySelectorAll('#tree .tn').forEach(function (el) { if (el.querySelector('.tn-kids')) S.collapsed.add(el.getAttribute('data-key')); });
    renderTree(v, true);
  });
  $('modal-ok').addEventListener('click', runAction);
  $('modal-cancel').addEventListener('click', closeModal);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape' && !$('modal').hidden) closeModal(); });
  renderHead();
  render();
  connect();
})();
`;

/** The page's body (no script or style; {@link pageHtml} puts them in). */
const BODY = `
<header class="top">
  <div class="brand"><span class="logo"></span><span>Spindle <b>Observer</b></span></div>
  <nav id="tabs" class="tabs" role="tablist" data-testid="node-tabs"></nav>
  <div class="status"><span id="conn" class="dot" data-testid="conn"></span><span id="conn-text">connecting…</span><span id="updated"></span><span id="actions-flag" class="pill" data-testid="actions-flag"></span></div>
</header>
<main class="grid">
  <div class="col left">
  <section class="card tree-card">
    <div class="card-h"><h2>Supervision tree</h2><div class="tools"><button id="expand" class="btn">Expand all</button><button id="collapse" class="btn">Collapse</button></div></div>
    <div id="tree" class="tree" data-testid="tree"></div>
  </section>
  <section class="card" id="log-card">
    <div class="card-h"><h2>Action log</h2></div>
    <div id="log" class="log" data-testid="action-log"></div>
  </section>
  </div>
  <div class="col">
    <section class="card">
      <div class="card-h"><h2>Threads</h2><span id="summary" class="muted"></span></div>
      <div id="threads" class="threads" data-testid="threads"></div>
    </section>
    <section class="card">
      <div class="card-h"><h2>Processes <span id="pcount" class="count" data-testid="process-count">0</span></h2><input id="filter" class="filter" type="search" placeholder="Filter by ref, name, kind, status…" autocomplete="off" data-testid="process-filter"></div>
      <div class="ptable" data-testid="process-table">
        <div id="phead" class="prow phead"></div>
        <div id="pbody" class="pbody" data-testid="process-body"><div id="pspacer" class="pspacer"></div><div id="pempty" class="pempty" hidden></div></div>
      </div>
    </section>
    <section class="card">
      <div class="card-h"><h2>Peers</h2></div>
      <div id="peers" data-testid="peers"></div>
    </section>
  </div>
</main>
<div id="modal" class="modal" hidden data-testid="confirm"><div class="dialog" role="dialog" aria-modal="true" aria-labelledby="modal-title">
  <h3 id="modal-title"></h3><p id="modal-text"></p>
  <div class="row"><button id="modal-cancel" class="btn" data-testid="confirm-cancel">Cancel</button><button id="modal-ok" class="btn danger" data-testid="confirm-ok">Confirm</button></div>
</div></div>
<div id="toast" class="toast" hidden data-testid="toast"></div>
`;

/** The whole page as served at `GET /`. */
export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Spindle Observer</title>
<link rel="icon" href="data:,">
<style>${PAGE_CSS}</style>
</head>
<body data-ready="0">${BODY}<script>${PAGE_JS}</script>
</body>
</html>
`;
}
