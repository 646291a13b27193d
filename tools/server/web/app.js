// mmada.cpp web page: a chat view and an image view over the public OpenAI-compatible API
// (/v1/chat/completions, /v1/images/generations), streamed with Server-Sent Events.
'use strict';

const $ = (id) => document.getElementById(id);
const keyInput = $('api-key');
keyInput.value = localStorage.getItem('mmada-api-key') || '';
keyInput.addEventListener('change', () => localStorage.setItem('mmada-api-key', keyInput.value));

function headers() {
  const h = { 'Content-Type': 'application/json' };
  if (keyInput.value) h.Authorization = 'Bearer ' + keyInput.value;
  return h;
}
const num = (id) => Number($(id).value);
const optionalInt = (id) => ($(id).value === '' ? undefined : parseInt($(id).value, 10));

// POSTs `body` with stream: true and calls onEvent(json, eventName) for every SSE data line.
async function postStream(path, body, onEvent) {
  const res = await fetch(path, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = '', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data || data === '[DONE]') continue;
      const j = JSON.parse(data);
      if (j.error) throw new Error(j.error.message);
      onEvent(j, event);
    }
  }
}

// ---- tabs
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t === tab);
    for (const v of document.querySelectorAll('.view')) v.classList.toggle('active', v.id === tab.dataset.view);
  });
}

fetch('/v1/models', { headers: headers() }).then((r) => r.json()).then((j) => {
  if (!j.data || !j.data[0]) return;
  $('model-name').textContent = j.data[0].id;
  // A model whose image size is none of the listed ones (32x32 for the demo model): offer it
  // first and select it. Listed sizes (MMaDA's 512x512) leave the choice as it is.
  const side = j.data[0].image_size, select = $('image-size');
  const size = `${side}x${side}`;
  if (side > 0 && ![...select.options].some((o) => o.value === size)) {
    select.insertBefore(new Option(size, size), select.firstChild);
    select.value = size;
  }
}).catch(() => {});

// ---- chat
const history = [];  // OpenAI messages, images as data: URLs in content parts
let attachment = null;  // data: URL of the image to send with the next message

function setAttachment(dataUrl) {
  attachment = dataUrl;
  $('attachment').hidden = !dataUrl;
  $('attachment-thumb').src = dataUrl || '';
}
function readImageFile(file) {
  if (!file || !/^image\/(png|jpeg)$/.test(file.type)) return;
  const r = new FileReader();
  r.onload = () => setAttachment(r.result);
  r.readAsDataURL(file);
}
$('attach-button').addEventListener('click', () => $('attach-input').click());
$('attach-input').addEventListener('change', (e) => { readImageFile(e.target.files[0]); e.target.value = ''; });
$('attachment-remove').addEventListener('click', () => setAttachment(null));
const messages = $('messages');
messages.addEventListener('dragover', (e) => { e.preventDefault(); messages.classList.add('dragging'); });
messages.addEventListener('dragleave', () => messages.classList.remove('dragging'));
messages.addEventListener('drop', (e) => {
  e.preventDefault();
  messages.classList.remove('dragging');
  readImageFile(e.dataTransfer.files[0]);
});

// Shows text with <think>...</think> parts folded into collapsible sections.
function renderAnswer(el, text) {
  el.textContent = '';
  const re = /<think>([\s\S]*?)(<\/think>|$)/g;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) el.append(text.slice(last, m.index));
    const d = document.createElement('details');
    const s = document.createElement('summary');
    s.textContent = m[2] ? 'Thoughts' : 'Thinking…';
    d.append(s, m[1]);
    el.append(d);
    last = re.lastIndex;
    if (m[0].length === 0) break;
  }
  if (last < text.length) el.append(text.slice(last));
}

function addMessage(role, text, imageUrl) {
  const el = document.createElement('div');
  el.className = 'msg ' + role;
  if (imageUrl) {
    const img = document.createElement('img');
    img.src = imageUrl;
    el.append(img);
  }
  const body = document.createElement('div');
  body.className = 'text';
  if (role === 'assistant') renderAnswer(body, text); else body.textContent = text;
  el.append(body);
  messages.append(el);
  messages.scrollTop = messages.scrollHeight;
  return body;
}

async function sendChat(text) {
  const content = attachment
    ? [{ type: 'text', text }, { type: 'image_url', image_url: { url: attachment } }]
    : text;
  addMessage('user', text, attachment);
  history.push({ role: 'user', content });
  setAttachment(null);
  const out = addMessage('assistant', '');
  out.parentElement.classList.add('pending');
  let answer = '';
  $('chat-send').disabled = true;
  try {
    await postStream('/v1/chat/completions', {
      messages: history, stream: true,
      // Empty lengths: the server's defaults (an image question to a model trained on fixed rows
      // then fills the trained row).
      max_tokens: optionalInt('chat-max-tokens'), steps: optionalInt('chat-steps'),
      block_length: optionalInt('chat-block'),
      temperature: num('chat-temperature'), cfg: num('chat-cfg'), remasking: $('chat-remasking').value,
      think: $('chat-think').checked, seed: optionalInt('chat-seed'),
    }, (chunk) => {
      const delta = chunk.choices[0].delta;
      if (delta.content) { answer += delta.content; renderAnswer(out, answer); }
    });
    history.push({ role: 'assistant', content: answer });
  } catch (err) {
    history.pop();
    out.parentElement.classList.add('error');
    out.textContent = 'Error: ' + err.message;
  } finally {
    out.parentElement.classList.remove('pending');
    out.parentElement.classList.add('done');
    $('chat-send').disabled = false;
  }
}

$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('chat-input').value.trim();
  if (!text) return;
  $('chat-input').value = '';
  sendChat(text);
});
$('chat-input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('chat-form').requestSubmit(); }
});
$('chat-reset').addEventListener('click', () => { history.length = 0; messages.textContent = ''; });

// ---- image
const grid = $('token-grid');
function drawGrid(g) {
  const ctx = grid.getContext('2d');
  const cw = grid.width / g.width, ch = grid.height / g.height;
  ctx.fillStyle = '#d0d0d6';
  ctx.fillRect(0, 0, grid.width, grid.height);
  let done = 0;
  g.codes.forEach((code, i) => {
    if (code < 0) return;
    done++;
    // A colour per code (hue from the code) so the filled cells show the token pattern.
    ctx.fillStyle = `hsl(${(code * 137) % 360}, 55%, ${35 + (code % 5) * 8}%)`;
    ctx.fillRect((i % g.width) * cw, Math.floor(i / g.width) * ch, Math.ceil(cw), Math.ceil(ch));
  });
  grid.dataset.committed = String(done);
}

$('image-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const prompt = $('image-prompt').value.trim();
  if (!prompt) return;
  const status = $('image-status'), preview = $('preview');
  $('final').hidden = true;
  preview.dataset.updates = '0';
  preview.removeAttribute('src');
  $('image-generate').disabled = true;
  status.textContent = 'queued…';
  try {
    await postStream('/v1/images/generations', {
      prompt, n: 1, size: $('image-size').value, response_format: 'b64_json', stream: true,
      steps: num('image-steps'), guidance_scale: num('image-guidance'), temperature: num('image-temperature'),
      seed: optionalInt('image-seed'),
    }, (ev) => {
      if (ev.grid) drawGrid(ev.grid);
      if (ev.step) status.textContent = `step ${ev.step} / ${ev.total_steps}`;
      if (ev.type === 'image_generation.partial_image') {
        preview.src = 'data:image/png;base64,' + ev.b64_json;
        preview.dataset.updates = String(Number(preview.dataset.updates) + 1);
      } else if (ev.type === 'image_generation.completed') {
        const url = 'data:image/png;base64,' + ev.b64_json;
        $('final-image').src = url;
        preview.src = url;
        $('download').href = url;
        $('final').hidden = false;
        status.textContent = 'done';
      }
    });
  } catch (err) {
    status.textContent = 'Error: ' + err.message;
  } finally {
    $('image-generate').disabled = false;
  }
});
