// dataport operator console. One script, no framework, nothing fetched but
// this appliance's admin API. Every value reaches the page as text (DOM
// nodes and textContent, never markup), so what a sender posted or an
// operator typed cannot become script. The admin token lives in
// sessionStorage and travels only in the Authorization header.
'use strict';
(() => {
  const TOKEN_KEY = 'dataport.admin.token';
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const signOutButton = document.getElementById('signout');
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  // Each page render gets a generation; late answers of an old page are dropped.
  let generation = 0;
  let timer = null;
  let flash = null;

  // ---- DOM helpers: text only ---------------------------------------------

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'on') {
        for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      } else if (k === 'text') {
        el.textContent = String(v);
      } else if (k === 'class') {
        el.className = v;
      } else if (k === 'value') {
        el.value = v;
      } else if (k === 'checked') {
        el.checked = !!v;
      } else if (k === 'style' || k.startsWith('on')) {
        throw new Error('no inline style or handler: ' + k);
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(el, kids);
    return el;
  }

  function append(el, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return append(el, kids);
  }

  function page(title, ...content) {
    document.title = title + ' · dataport';
    const kids = [h('h1', { text: title })];
    if (flash) {
      kids.push(h('div', { class: 'message ' + flash.kind, role: 'status', text: flash.text }));
      flash = null;
    }
    main.replaceChildren();
    append(main, [kids, content]);
  }

  function message(kind, text) {
    return h('div', { class: 'message ' + kind, role: kind === 'error' ? 'alert' : 'status', text });
  }

  function go(hash, note) {
    if (note) flash = note;
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  const fmt = new Intl.NumberFormat('en');
  const num = (n) => fmt.format(n || 0);
  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + units[i];
  }
  function shown(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }
  function cut(text, n) {
    return text.length > n ? text.slice(0, n) + '…' : text;
  }

  // ---- the admin API ----------------------------------------------------

  class ApiError extends Error {
    constructor(status, text, body) {
      super(text);
      this.status = status;
      this.body = body;
    }
  }

  async function call(tokenToUse, method, path, body) {
    const init = { method, cache: 'no-store', headers: { Authorization: 'Bearer ' + tokenToUse } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch('/admin/v1/' + path, init);
    } catch (e) {
      throw new ApiError(0, 'The appliance did not answer (' + e.message + ').', null);
    }
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    if (!res.ok) {
      const why = (json && json.error) || text || res.statusText;
      throw new ApiError(res.status, why, json);
    }
    return json;
  }

  async function api(method, path, body) {
    try {
      return await call(token, method, path, body);
    } catch (e) {
      if (e.status === 401) signOut('The appliance no longer takes this token; sign in again.');
      throw e;
    }
  }

  // ---- sign in and out --------------------------------------------------

  function signOut(note) {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    flash = note ? { kind: 'note', text: note } : null;
    go('#/signin');
  }

  function signInPage() {
    nav.hidden = true;
    signOutButton.hidden = true;
    const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true });
    const status = h('div', { id: 'signin-status' });
    const form = h('form', { class: 'signin', on: { submit: submit } },
      h('h1', { text: 'Sign in' }),
      flash ? message(flash.kind, flash.text) : null,
      h('label', { for: 'token', text: 'Admin token' }),
      input,
      h('p', { class: 'muted', text: 'The [admin] token of this appliance. It is kept in this tab only and sent with each request.' }),
      status,
      h('button', { type: 'submit', text: 'Sign in' }));
    flash = null;
    document.title = 'Sign in · dataport';
    main.replaceChildren(form);
    input.focus();

    async function submit(ev) {
      ev.preventDefault();
      const candidate = input.value.trim();
      status.replaceChildren();
      if (!candidate) return;
      try {
        await call(candidate, 'GET', 'stats?hours=1');
      } catch (e) {
        const text = e.status === 401
          ? 'That token is wrong: the appliance refused it.'
          : e.status === 404 ? 'The admin API is off on this appliance ([admin] token is empty).'
            : 'Could not sign in: ' + e.message;
        status.replaceChildren(message('error', text));
        input.select();
        return;
      }
      token = candidate;
      sessionStorage.setItem(TOKEN_KEY, token);
      go('#/dashboard');
    }
  }

  // ---- navigation -------------------------------------------------------

  const CONFIG = {
    profiles: {
      title: 'Profiles', id: 'number', columns: ['number', 'form_name', 'type', 'form_mode', 'dialer_campaign'],
      fields: [
        ['number', 'number', 'Number'],
        ['form_name', 'text', 'Form name', 'posts go to /{form name}'],
        ['type', 'select', 'Type', ['client_lead', 'client_lead_no_dedupe', 'client_lead_trading_account', 'service_ticket']],
        ['form_mode', 'select', 'Mini form', ['none', 'html_form', 'html_form_captcha']],
        ['redirect_success', 'text', 'Redirect on success'],
        ['redirect_error', 'text', 'Redirect on error'],
        ['external_key_field', 'text', 'External key field'],
        ['circle_between_agencies', 'text', 'Circle between agencies', 'like ;A1;A3;'],
        ['parameter1', 'text', 'Parameter 1'],
        ['dialer_campaign', 'text', 'Dialer campaign (code)'],
        ['rate_limit_per_ip', 'number', 'Rate limit per IP (/s)', '0 = the server\'s'],
        ['bot_fake_success', 'bool', 'Answer bots as if they succeeded'],
        ['form_frame_ancestors', 'list', 'Origins that may frame the form', 'comma separated'],
        ['form_lang', 'text', 'Form language'],
        ['form_title', 'text', 'Form title'],
        ['form_submit', 'text', 'Form submit text'],
      ],
      rows: true,
    },
    users: {
      title: 'Users', id: 'login', columns: ['id', 'login', 'name', 'email', 'branch', 'active'],
      fields: [['id', 'number', 'Id', '0 = its position'], ['login', 'text', 'Login'], ['name', 'text', 'Name'],
        ['email', 'text', 'Email'], ['branch', 'text', 'Branch'], ['active', 'bool', 'Active']],
    },
    branches: {
      title: 'Branches', id: 'id', columns: ['id', 'name', 'timezone'],
      fields: [['id', 'text', 'Id', 'A1, A2, …'], ['name', 'text', 'Name'], ['timezone', 'text', 'Time zone', 'e.g. Asia/Jerusalem']],
    },
    buyers: {
      title: 'Buyers', id: 'id', columns: ['id', 'name', 'active'],
      fields: [['id', 'number', 'Id'], ['name', 'text', 'Name'], ['active', 'bool', 'Active']],
      keys: true,
    },
    rules: {
      title: 'Delivery rules', id: 'id', columns: ['id', 'buyer', 'active', 'method', 'url', 'daily_cap'],
      fields: [['id', 'number', 'Id'], ['buyer', 'number', 'Buyer id'], ['active', 'bool', 'Active'],
        ['method', 'select', 'Method', ['post_form', 'post_json', 'get']], ['url', 'text', 'URL'],
        ['routing_id_param', 'text', 'Routing id parameter'], ['profiles', 'numbers', 'Profiles', 'comma separated numbers; empty = all'],
        ['lead_supplier', 'text', 'Lead supplier'], ['utm_source', 'text', 'UTM source'], ['city', 'text', 'City'],
        ['daily_cap', 'number', 'Daily cap', '0 = none'], ['timeout_ms', 'number', 'Timeout (ms)'],
        ['fields', 'map', 'Fields', 'JSON: our field → their parameter']],
    },
    feedback_reasons: {
      title: 'Feedback reasons', id: 'id', columns: ['id', 'name'],
      fields: [['id', 'number', 'Id'], ['name', 'text', 'Name']],
    },
    campaigns: {
      title: 'Campaigns', id: 'code', columns: ['id', 'name', 'code', 'type', 'enabled'],
      fields: [['id', 'number', 'Id'], ['name', 'text', 'Name'], ['code', 'text', 'Code', '32 characters'],
        ['type', 'select', 'Type', ['agent', 'smart']], ['enabled', 'bool', 'Enabled'],
        ['queue_for_monitoring', 'number', 'Queue for monitoring'], ['queue_max_callers', 'number', 'Queue max callers'],
        ['coefficient', 'number', 'Coefficient']],
    },
    extensions: {
      title: 'Extensions', id: 'member', columns: ['member', 'display_name'],
      fields: [['member', 'text', 'Member'], ['display_name', 'text', 'Display name']],
    },
    dnc: {
      title: 'Do not call', id: 'phone', columns: ['phone', 'note'],
      fields: [['phone', 'text', 'Phone'], ['note', 'text', 'Note']],
    },
  };

  const RECORDS = {
    clients: { title: 'Clients', columns: ['id', 'created_at', 'profile', 'full_name', 'first_name', 'last_name', 'phone1', 'email', 'handling_status'], search: true },
    leads: { title: 'Leads inbox', columns: ['id', 'created_at', 'profile', 'person', 'phone', 'email', 'client', 'status'], search: true },
    bad_leads: { title: 'Bad leads', columns: ['id', 'created_at', 'profile', 'reason', 'client', 'data'], search: true },
    tickets: { title: 'Tickets', columns: ['id', 'created_at', 'profile', 'status', 'complainer_name', 'return_phone', 'subject'] },
    usage_log: { title: 'Usage log', columns: ['id', 'created_at', 'method', 'form', 'query', 'body', 'client_ip', 'status', 'code', 'reason', 'record_id'], search: true },
    automation_log: { title: 'Automation log', columns: ['id', 'created_at', 'profile', 'client', 'fields'] },
    outbox: { title: 'Outbox', columns: ['id', 'created_at', 'event', 'channel', 'to', 'status', 'attempts', 'last_error'] },
    deliveries: { title: 'Deliveries', columns: ['id', 'created_at', 'buyer', 'rule', 'client', 'status', 'attempts', 'delivered_at'] },
    contacts: { title: 'Contacts', columns: ['id', 'created_at', 'client', 'first_name', 'last_name', 'phone', 'email', 'role'], search: true, hidden: true },
    relationships: { title: 'Relationships', columns: ['id', 'created_at', 'client', 'kind', 'note'], hidden: true },
  };

  function buildNav() {
    const link = (hash, text) => h('a', { href: hash, text, 'data-hash': hash });
    const kids = [link('#/dashboard', 'Dashboard'), link('#/tail', 'Live tail'), h('span', { class: 'group', text: 'Records' })];
    for (const [name, r] of Object.entries(RECORDS)) if (!r.hidden) kids.push(link('#/records/' + name, r.title));
    kids.push(h('span', { class: 'group', text: 'Configuration' }));
    for (const [name, c] of Object.entries(CONFIG)) kids.push(link('#/config/' + name, c.title));
    nav.replaceChildren(...kids);
  }

  function markNav(path) {
    for (const a of nav.querySelectorAll('a')) {
      const target = a.getAttribute('data-hash').slice(1);
      a.classList.toggle('current', path === target || path.startsWith(target + '/'));
    }
  }

  function route() {
    generation++;
    if (timer) { clearInterval(timer); timer = null; }
    const [path, query] = location.hash.replace(/^#/, '').split('?');
    if (!token) {
      if (path !== '/signin') { location.hash = '#/signin'; return; }
      return signInPage();
    }
    nav.hidden = false;
    signOutButton.hidden = false;
    markNav(path);
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const params = new URLSearchParams(query || '');
    const [top, name, sub, id] = parts;
    const guard = (p) => p.catch((e) => { if (e.status !== 401) main.append(message('error', e.message)); });
    if (!top || top === 'dashboard' || top === 'signin') return guard(dashboard());
    if (top === 'tail') return guard(tail());
    if (top === 'config' && CONFIG[name]) {
      if (sub === 'new') return guard(editor(name, null));
      if (sub === 'edit' && id !== undefined) return guard(editor(name, id));
      return guard(configList(name));
    }
    if (top === 'records' && RECORDS[name]) {
      if (sub !== undefined && name === 'clients') return guard(clientPage(sub));
      if (sub !== undefined) return guard(recordPage(name, sub));
      return guard(recordList(name, params));
    }
    page('Not found', h('p', { text: 'No console page at ' + path + '.' }));
  }

  // ---- dashboard --------------------------------------------------------

  const CODES = ['000', '001', '002', '003', '004', '005', '006', '007', '008', '009', '010'];
  const sumCodes = (codes) => Object.values(codes || {}).reduce((a, b) => a + b, 0);

  async function dashboard() {
    const mine = generation;
    const box = h('div', { id: 'dashboard' }, h('p', { class: 'muted', text: 'Loading…' }));
    page('Dashboard', box);
    const draw = async () => {
      const stats = await api('GET', 'stats?hours=24');
      if (mine !== generation) return;
      box.replaceChildren(
        healthCards(stats),
        h('h2', { text: 'Posts per minute, last hour, by response code' }),
        minuteChart(stats.by_minute),
        h('h2', { text: 'Last 24 hours, per profile and code' }),
        profileTable(stats.profiles),
        h('p', { class: 'muted', id: 'refreshed', text: 'Refreshed ' + new Date().toLocaleTimeString() + '; refreshes every 5 seconds.' }));
    };
    await draw();
    if (mine === generation) {
      timer = setInterval(() => draw().catch((e) => {
        if (mine === generation && e.status !== 401) box.prepend(message('error', 'Refresh failed: ' + e.message));
      }), 5000);
    }
  }

  function card(label, value, extra) {
    return h('div', { class: 'card' }, h('div', { class: 'label', text: label }), h('div', { class: 'value', text: value }), extra || null);
  }

  function healthCards(stats) {
    const hl = stats.health;
    const lastHour = stats.by_minute.reduce((a, m) => a + sumCodes(m.codes), 0);
    const used = hl.used_bytes, map = hl.map_size || 1;
    return h('div', { class: 'cards' },
      card('Posts, last hour', num(lastHour)),
      card('Commits', num(hl.commits), h('div', { class: 'muted', text: num(hl.commit_failures) + ' failed' })),
      card('Jobs per commit', (hl.jobs_per_batch || 0).toFixed(1)),
      card('Commit time (avg)', (hl.commit_ms_avg || 0).toFixed(2) + ' ms',
        h('div', { class: 'muted', text: 'fsync ' + (hl.sync_ms_avg || 0).toFixed(2) + ' ms' })),
      card('Write queue', num(hl.write_queue)),
      card('Outbox backlog', hl.outbox_pending === null ? '?' : num(hl.outbox_pending)),
      card('Disk', bytes(used) + ' of ' + bytes(map),
        h('progress', { max: map, value: used, title: (100 * used / map).toFixed(1) + '% of the map size' })));
  }

  function minuteChart(minutes) {
    const W = 760, H = 220, left = 40, bottom = 22, top = 8;
    const totals = minutes.map((m) => sumCodes(m.codes));
    const max = Math.max(1, ...totals);
    const bw = (W - left) / minutes.length;
    const y = (v) => top + (H - top - bottom) * (1 - v / max);
    const g = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Posts per minute by response code' },
      s('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }),
      s('line', { class: 'axis', x1: left, y1: top, x2: left, y2: H - bottom }),
      s('text', { x: left - 4, y: top + 8, 'text-anchor': 'end' }, num(max)),
      s('text', { x: left - 4, y: H - bottom, 'text-anchor': 'end' }, '0'));
    const seen = new Set();
    minutes.forEach((m, i) => {
      let base = 0;
      for (const code of CODES) {
        const n = (m.codes || {})[code] || 0;
        if (!n) continue;
        seen.add(code);
        const y0 = y(base), y1 = y(base + n);
        g.append(s('rect', { class: 'code-' + code, x: left + i * bw + 0.5, y: y1, width: Math.max(1, bw - 1), height: Math.max(0.5, y0 - y1) },
          s('title', {}, `${m.minute.slice(11, 16)} UTC: ${num(n)} × ${code}`)));
        base += n;
      }
      if (i % 10 === 0) g.append(s('text', { x: left + i * bw, y: H - 6 }, m.minute.slice(11, 16)));
    });
    const legend = h('div', { class: 'legend' }, [...seen].sort().map((c) =>
      h('span', {}, h('span', { class: 'swatch code-' + c }), c)));
    if (!seen.size) legend.append(h('span', { class: 'muted', text: 'No posts in the last hour.' }));
    return h('div', { class: 'chart' }, g, legend);
  }

  function profileTable(profiles) {
    const head = h('tr', {}, h('th', { text: 'Profile' }), h('th', { text: 'Form' }),
      CODES.map((c) => h('th', { class: 'num', text: c })), h('th', { class: 'num', text: 'Total' }));
    const rows = profiles.map((p) => {
      const day = {};
      for (const hr of p.by_hour) for (const [c, n] of Object.entries(hr.codes)) day[c] = (day[c] || 0) + n;
      return h('tr', { 'data-form': p.form_name },
        h('td', { text: p.profile }), h('td', { text: p.form_name }),
        CODES.map((c) => h('td', { class: 'num', 'data-code': c, text: day[c] ? num(day[c]) : '' })),
        h('td', { class: 'num total', text: num(sumCodes(day)) }));
    });
    return h('table', { id: 'per-profile' }, h('thead', {}, head), h('tbody', {}, rows));
  }

  // ---- configuration ----------------------------------------------------

  async function configList(kind) {
    const spec = CONFIG[kind];
    const mine = generation;
    const list = await api('GET', kind);
    if (mine !== generation) return;
    const secret = h('div', { id: 'secret' });
    const rows = list.data.map((entry) => {
      const id = shown(entry[spec.id]);
      const edit = h('a', { class: 'button quiet', href: `#/config/${kind}/edit/${encodeURIComponent(id)}`, text: 'Edit' });
      const del = h('button', { type: 'button', class: 'quiet', text: 'Delete', on: { click: () => remove(del, id) } });
      const extra = spec.keys ? h('button', { type: 'button', class: 'quiet', text: 'New key', on: { click: () => newKey(id) } }) : null;
      return h('tr', { 'data-id': id },
        spec.columns.map((c) => h('td', { class: 'cell', text: cut(shown(entry[c]), 120) })),
        h('td', { text: entry.source || '' }),
        h('td', {}, edit, ' ', del, extra ? ' ' : null, extra));
    });
    page(spec.title,
      h('div', { class: 'toolbar' }, h('a', { class: 'button', href: `#/config/${kind}/new`, text: 'New' }),
        h('span', { class: 'muted', text: `${list.data.length} entries. Entries from the file can be edited here (the change is kept in the store) and deleted only in the file.` })),
      secret,
      h('table', { id: 'config-list' },
        h('thead', {}, h('tr', {}, spec.columns.map((c) => h('th', { text: c })), h('th', { text: 'source' }), h('th', { text: '' }))),
        h('tbody', {}, rows)));

    async function remove(button, id) {
      if (button.dataset.armed !== 'yes') {
        button.dataset.armed = 'yes';
        button.textContent = 'Confirm delete';
        button.className = 'danger';
        setTimeout(() => { button.dataset.armed = ''; button.textContent = 'Delete'; button.className = 'quiet'; }, 5000);
        return;
      }
      try {
        await api('DELETE', `${kind}/${encodeURIComponent(id)}`);
        go(`#/config/${kind}`, { kind: 'ok', text: `Deleted ${id}.` });
      } catch (e) {
        if (e.status !== 401) secret.replaceChildren(message('error', e.message));
      }
    }

    async function newKey(id) {
      try {
        const r = await api('POST', `buyers/${encodeURIComponent(id)}/key`);
        secret.replaceChildren(h('div', { class: 'message note' },
          h('p', { text: `Buyer ${id}'s new OData key. It is shown once: only its SHA-256 is stored, and the old key no longer works.` }),
          h('div', { class: 'secret', id: 'buyer-key', text: r.api_key })));
      } catch (e) {
        if (e.status !== 401) secret.replaceChildren(message('error', e.message));
      }
    }
  }

  function inputFor([key, type, , options], value) {
    const id = 'f-' + key;
    switch (type) {
      case 'bool': return h('input', { type: 'checkbox', id, name: key, checked: !!value });
      case 'number': return h('input', { type: 'number', id, name: key, min: 0, step: 1, value: value ?? '' });
      case 'select': {
        const opts = options.includes(value) || value === undefined ? options : [value, ...options];
        return h('select', { id, name: key }, opts.map((o) => {
          const opt = h('option', { value: o, text: o });
          if (o === value) opt.selected = true;
          return opt;
        }));
      }
      case 'list': case 'numbers': return h('input', { type: 'text', id, name: key, value: (value || []).join(', ') });
      case 'map': return h('textarea', { id, name: key, value: JSON.stringify(value || {}, null, 2) });
      default: return h('input', { type: 'text', id, name: key, value: value ?? '' });
    }
  }

  function valueOf([key, type], form) {
    const el = form.elements.namedItem(key);
    switch (type) {
      case 'bool': return el.checked;
      case 'number': return el.value === '' ? 0 : Number(el.value);
      case 'list': return el.value.split(',').map((x) => x.trim()).filter(Boolean);
      case 'numbers': return el.value.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
      case 'map': {
        try { return JSON.parse(el.value || '{}'); } catch (_) { throw new FieldError(key, 'not valid JSON'); }
      }
      default: return el.value;
    }
  }

  class FieldError extends Error {
    constructor(key, text) { super(text); this.key = key; }
  }

  const ROW_COLUMNS = ['external', 'table', 'field', 'mandatory', 'default', 'label'];
  const TABLES = ['', 'clients', 'contacts', 'extension', 'tickets'];

  function rowEditor(rows) {
    const body = h('tbody', {});
    const renumber = () => [...body.children].forEach((tr, i) => {
      tr.setAttribute('data-row', i + 1);
      tr.firstChild.textContent = String(i + 1);
    });
    const addRow = (r) => {
      r = r || {};
      const cell = (col) => {
        if (col === 'mandatory') return h('input', { type: 'checkbox', 'data-col': col, checked: !!r.mandatory, 'aria-label': col });
        if (col === 'table') {
          const sel = h('select', { 'data-col': col, 'aria-label': col },
            TABLES.map((t) => h('option', { value: t, text: t || '(main table)' })));
          if (r.table && !TABLES.includes(r.table)) sel.append(h('option', { value: r.table, text: r.table }));
          sel.value = r.table || '';
          return sel;
        }
        return h('input', { type: 'text', 'data-col': col, value: r[col] || '', 'aria-label': col });
      };
      const tr = h('tr', {}, h('td', { class: 'num' }),
        ROW_COLUMNS.map((c) => h('td', {}, cell(c))),
        h('td', {}, h('button', { type: 'button', class: 'quiet', text: 'Remove', on: { click: () => { tr.remove(); renumber(); } } })));
      body.append(tr);
      renumber();
    };
    (rows || []).forEach(addRow);
    const table = h('table', { id: 'field-rows' },
      h('thead', {}, h('tr', {}, h('th', { text: '#' }),
        ['external (posted name)', 'table', 'field', 'mandatory', 'default / fixed value', 'label'].map((t) => h('th', { text: t })),
        h('th', { text: '' }))),
      body);
    const add = h('button', { type: 'button', class: 'quiet', id: 'add-row', text: 'Add row', on: { click: () => addRow() } });
    return {
      node: h('div', {}, h('h2', { text: 'Field rows' }),
        h('p', { class: 'muted', text: 'Each row maps a posted field into a table. A row without a posted name sets its default as a fixed value. No table = the profile\'s main table.' }),
        table, h('div', { class: 'toolbar' }, add)),
      value: () => [...body.children].map((tr) => {
        const r = {};
        for (const el of tr.querySelectorAll('[data-col]')) {
          const col = el.getAttribute('data-col');
          r[col] = el.type === 'checkbox' ? el.checked : el.value;
        }
        return r;
      }),
      body,
    };
  }

  async function editor(kind, id) {
    const spec = CONFIG[kind];
    const mine = generation;
    const entry = id === null ? {} : await api('GET', `${kind}/${encodeURIComponent(id)}`);
    if (mine !== generation) return;
    // Keys the form does not show are kept as they are.
    const known = new Set(spec.fields.map((f) => f[0]).concat(['source', 'fields']));
    const extras = Object.fromEntries(Object.entries(entry).filter(([k]) => !known.has(k)));
    const top = h('div', { id: 'form-errors' });
    const grid = h('div', { class: 'grid' }, spec.fields.map((f) => h('div', { class: 'field', 'data-key': f[0] },
      h('label', { for: 'f-' + f[0] }, f[2], f[3] && f[1] !== 'select' ? h('span', { class: 'hint', text: ' (' + f[3] + ')' }) : null),
      inputFor(f, entry[f[0]] ?? (f[1] === 'bool' && id === null ? (f[0] === 'active' || f[0] === 'enabled') : undefined)))));
    const rows = spec.rows ? rowEditor(entry.fields) : null;
    const save = h('button', { type: 'submit', id: 'save', text: id === null ? 'Create' : 'Save' });
    const form = h('form', { class: 'editor', novalidate: true, on: { submit: submit } },
      top, grid, rows ? rows.node : null,
      h('div', { class: 'actions' }, save, h('a', { class: 'button quiet', href: '#/config/' + kind, text: 'Cancel' })));
    page(id === null ? `New ${spec.title.toLowerCase().replace(/s$/, '')}` : `${spec.title}: ${id}`, form);

    function clearErrors() {
      top.replaceChildren();
      for (const el of form.querySelectorAll('.field-error')) el.remove();
      for (const el of form.querySelectorAll('.invalid-input')) el.classList.remove('invalid-input');
      for (const el of form.querySelectorAll('tr.invalid')) el.classList.remove('invalid');
    }

    function fieldError(key, text) {
      const box = grid.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (!box) return false;
      box.querySelector('input,select,textarea').classList.add('invalid-input');
      box.append(h('span', { class: 'field-error', role: 'alert', text }));
      return true;
    }

    function rowError(row, column, text) {
      const tr = rows && rows.body.querySelector(`tr[data-row="${row}"]`);
      if (!tr) return false;
      tr.classList.add('invalid');
      const el = column && tr.querySelector(`[data-col="${column}"]`);
      const at = el ? el.parentNode : tr.lastChild;
      if (el) el.classList.add('invalid-input');
      at.append(h('span', { class: 'field-error', role: 'alert', text }));
      return true;
    }

    // A configuration error goes to its row and column, else to the setting
    // it names, else above the form.
    function showError(e) {
      if (e.row && rowError(e.row, e.column, e.message)) return;
      const keys = spec.fields.map((f) => f[0]).sort((a, b) => b.length - a.length);
      const key = keys.find((k) => e.message.startsWith(k) || (e.location || '').endsWith(' ' + k))
        || keys.find((k) => new RegExp('\\b' + k + '\\b').test(e.message));
      if (key && fieldError(key, e.message)) return;
      top.append(message('error', (e.location ? e.location + ': ' : '') + e.message));
    }

    async function submit(ev) {
      ev.preventDefault();
      clearErrors();
      let body;
      try {
        body = Object.assign({}, extras);
        for (const f of spec.fields) body[f[0]] = valueOf(f, form);
        if (rows) body.fields = rows.value();
      } catch (e) {
        if (!(e instanceof FieldError) || !fieldError(e.key, e.message)) top.append(message('error', e.message));
        return;
      }
      save.disabled = true;
      try {
        const newId = shown(body[spec.id]);
        if (id === null) await api('POST', kind, body);
        else await api('PUT', `${kind}/${encodeURIComponent(id)}`, body);
        go(`#/config/${kind}`, { kind: 'ok', text: `${id === null ? 'Created' : 'Saved'} ${newId}.` });
      } catch (e) {
        if (e.status === 401) return;
        const errors = e.body && e.body.errors;
        if (errors && errors.length) {
          top.append(message('error', e.message));
          errors.forEach(showError);
        } else {
          top.append(message('error', e.message));
        }
        save.disabled = false;
      }
    }
  }

  // ---- records ----------------------------------------------------------

  function recordTable(name, data, columns) {
    return h('table', { class: 'records', 'data-collection': name },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { text: c })))),
      h('tbody', {}, data.map((r) => h('tr', { 'data-id': r.id }, columns.map((c) => {
        if (c === 'id') return h('td', {}, h('a', { href: `#/records/${name}/${r.id}`, text: r.id }));
        return h('td', { class: 'cell', text: cut(shown(r[c]), 160) });
      })))));
  }

  function scanNote(list) {
    if (list.complete === false) {
      return h('p', { class: 'muted', text: `Looked at ${num(list.scanned)} records (the admin.max_scan bound) without filling the page; “Older” goes on from there.` });
    }
    return null;
  }

  async function recordList(name, params) {
    const spec = RECORDS[name];
    const mine = generation;
    const q = params.get('q') || '';
    const query = new URLSearchParams();
    query.set('order', 'desc');
    query.set('limit', '50');
    if (q) query.set('q', q);
    const filterField = params.get('field') || '';
    const filterValue = params.get('value') || '';
    if (filterField) query.set(filterField, filterValue);
    if (params.get('after')) query.set('after', params.get('after'));
    const search = h('input', { type: 'search', id: 'search', name: 'q', value: q, placeholder: 'Phone or email', 'aria-label': 'Search by phone or email' });
    const field = h('select', { name: 'field', 'aria-label': 'Filter field' },
      h('option', { value: '', text: 'filter on…' }), spec.columns.filter((c) => c !== 'id').map((c) => h('option', { value: c, text: c })));
    field.value = filterField;
    const value = h('input', { type: 'text', name: 'value', value: filterValue, placeholder: 'equals', 'aria-label': 'Filter value' });
    const apply = () => {
      const p = new URLSearchParams();
      if (search.value.trim()) p.set('q', search.value.trim());
      if (field.value) { p.set('field', field.value); p.set('value', value.value); }
      go(`#/records/${name}` + (p.toString() ? '?' + p : ''));
    };
    const toolbar = h('form', { class: 'toolbar', role: 'search', on: { submit: (ev) => { ev.preventDefault(); apply(); } } },
      spec.search ? search : null, field, value, h('button', { type: 'submit', text: 'Search' }),
      h('a', { class: 'button quiet', href: `#/records/${name}`, text: 'Clear' }));
    page(spec.title, toolbar, h('div', { id: 'results' }, h('p', { class: 'muted', text: 'Loading…' })));
    let list;
    try {
      list = await api('GET', `${name}?${query}`);
    } catch (e) {
      if (mine === generation && e.status !== 401) main.querySelector('#results').replaceChildren(message('error', e.message));
      return;
    }
    if (mine !== generation) return;
    const pager = h('div', { class: 'pager' },
      params.get('after') ? h('a', { class: 'button quiet', href: `#/records/${name}?` + withoutAfter(params), text: 'Newest' }) : null,
      list.next ? h('a', { class: 'button quiet', id: 'older', href: `#/records/${name}?` + withAfter(params, list.next), text: 'Older' }) : null,
      h('span', { class: 'muted', text: `${list.data.length} shown, newest first` + (q ? ' (found through the index)' : '') }));
    const results = main.querySelector('#results');
    results.replaceChildren();
    append(results, [list.data.length ? recordTable(name, list.data, spec.columns) : h('p', { class: 'muted', id: 'none', text: 'Nothing found.' }),
      scanNote(list), pager]);
  }

  function withAfter(params, next) {
    const p = new URLSearchParams(params);
    p.set('after', next);
    return p.toString();
  }
  function withoutAfter(params) {
    const p = new URLSearchParams(params);
    p.delete('after');
    return p.toString();
  }

  // A record's fields; the empty ones are named in one line below.
  function fieldsTable(record) {
    const blank = (v) => v === '' || v === null || (typeof v === 'object' && Object.keys(v).length === 0);
    const entries = Object.entries(record);
    const empty = entries.filter(([, v]) => blank(v)).map(([k]) => k);
    return [h('table', { class: 'fields' }, h('tbody', {}, entries.filter(([, v]) => !blank(v)).map(([k, v]) =>
      h('tr', {}, h('th', { text: k }), h('td', { class: 'cell', text: shown(v) }))))),
    empty.length ? h('p', { class: 'muted', text: 'Empty: ' + empty.join(', ') + '.' }) : null];
  }

  async function recordPage(name, id) {
    const mine = generation;
    const r = await api('GET', `${name}/${encodeURIComponent(id)}`);
    if (mine !== generation) return;
    page(`${RECORDS[name].title}: ${id}`,
      h('p', {}, h('a', { href: '#/records/' + name, text: '← ' + RECORDS[name].title })),
      fieldsTable(r),
      h('h2', { text: 'As stored' }), h('pre', { class: 'json', text: JSON.stringify(r, null, 2) }));
  }

  async function clientPage(id) {
    const mine = generation;
    const client = await api('GET', `clients/${encodeURIComponent(id)}`);
    if (mine !== generation) return;
    const section = (title, boxId) => [h('h2', { text: title }), h('div', { id: boxId }, h('p', { class: 'muted', text: 'Loading…' }))];
    page(`Client ${id}`,
      h('p', {}, h('a', { href: '#/records/clients', text: '← Clients' })),
      client.possible_duplicate_of ? message('note', `Possibly the same person as client ${client.possible_duplicate_of} (made on another node while the cluster was apart).`) : null,
      fieldsTable(client),
      section('Contacts', 'client-contacts'),
      section('Relationships', 'client-relationships'),
      section('Posts that carried its phones or email', 'client-posts'));
    const fill = async (boxId, path, name, columns) => {
      let list;
      try { list = await api('GET', path); } catch (e) {
        if (mine === generation && e.status !== 401) main.querySelector('#' + boxId).replaceChildren(message('error', e.message));
        return;
      }
      if (mine !== generation) return;
      const box = main.querySelector('#' + boxId);
      box.replaceChildren();
      append(box, [list.data.length ? recordTable(name, list.data, columns) : h('p', { class: 'muted', text: 'None.' }), scanNote(list)]);
    };
    const cid = encodeURIComponent(id);
    await Promise.all([
      fill('client-contacts', `contacts?client=${cid}&order=desc`, 'contacts', RECORDS.contacts.columns),
      fill('client-relationships', `relationships?client=${cid}&order=desc`, 'relationships', RECORDS.relationships.columns),
      posts(),
    ]);

    // Every post that carried one of the client's phones or its email,
    // through the index (one `q` each), newest first.
    async function posts() {
      const values = [client.phone1, client.phone2, client.phone3, client.email].filter(Boolean);
      const seen = new Map();
      try {
        const pages = await Promise.all(values.map((v) =>
          api('GET', `usage_log?q=${encodeURIComponent(v)}&order=desc&limit=50`)));
        for (const p of pages) for (const e of p.data) seen.set(e.id, e);
      } catch (e) {
        if (mine === generation && e.status !== 401) main.querySelector('#client-posts').replaceChildren(message('error', e.message));
        return;
      }
      if (mine !== generation) return;
      const list = [...seen.values()].sort((a, b) => b.id - a.id).slice(0, 50);
      const box = main.querySelector('#client-posts');
      box.replaceChildren(list.length
        ? recordTable('usage_log', list, ['id', 'created_at', 'method', 'form', 'query', 'body', 'client_ip', 'code'])
        : h('p', { class: 'muted', text: 'None.' }));
    }
  }

  // ---- live tail --------------------------------------------------------

  async function tail() {
    const mine = generation;
    const body = h('tbody', {});
    const columns = ['id', 'created_at', 'method', 'form', 'query', 'body', 'client_ip', 'code', 'reason'];
    let last = 0;
    let paused = false;
    const pause = h('button', { type: 'button', class: 'quiet', id: 'pause', text: 'Pause', on: { click: () => {
      paused = !paused;
      pause.textContent = paused ? 'Resume' : 'Pause';
    } } });
    const state = h('span', { class: 'muted', id: 'tail-state' });
    page('Live tail of the usage log',
      h('div', { class: 'toolbar' }, pause, state),
      h('table', { class: 'tail', id: 'tail' }, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { text: c })))), body));
    const add = (entries) => {
      for (const r of entries) {
        last = Math.max(last, r.id);
        body.prepend(h('tr', { 'data-id': r.id }, columns.map((c) => c === 'id'
          ? h('td', {}, h('a', { href: `#/records/usage_log/${r.id}`, text: r.id }))
          : h('td', { class: 'cell', text: cut(shown(r[c]), 200) }))));
      }
      while (body.children.length > 500) body.lastChild.remove();
    };
    const first = await api('GET', 'usage_log?order=desc&limit=50');
    if (mine !== generation) return;
    add(first.data.slice().reverse());
    const poll = async () => {
      if (paused) return;
      const more = await api('GET', `usage_log?after=${last}&limit=200`);
      if (mine !== generation) return;
      add(more.data);
      state.textContent = 'Polling every 2 seconds; last checked ' + new Date().toLocaleTimeString();
    };
    timer = setInterval(() => poll().catch((e) => { state.textContent = 'Polling failed: ' + e.message; }), 2000);
  }

  // ---- start ------------------------------------------------------------

  signOutButton.addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('hashchange', route);
  buildNav();
  route();
})();
