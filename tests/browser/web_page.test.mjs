// Browser test of the `mmada serve` web page in headless Chromium: starts the real server on
// the tiny models, chats with an attached image, generates an image and watches the preview
// update and the final picture appear. Screenshots go to $SCREENSHOT_DIR (default
// tests/browser/screenshots). Run through scripts/browser-test.sh.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const cli = process.env.MMADA_CLI || path.join(root, 'build/mmada');
const refdata = process.env.MMADA_REFDATA || path.resolve(root, '../shared/refdata');
const shots = process.env.SCREENSHOT_DIR || path.join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

// A small RGB PNG (a colour gradient) written by hand: no image library needed.
function gradientPng(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 255] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const o = y * (w * 3 + 1) + 1 + x * 3;
    raw[o] = (x * 255 / w) | 0; raw[o + 1] = (y * 255 / h) | 0; raw[o + 2] = 128;
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

async function startServer(port) {
  const tiny = path.join(refdata, 'tiny');
  const proc = spawn(cli, ['serve', '-m', path.join(tiny, 'mmada_tiny'), '--vq', path.join(tiny, 'magvitv2_tiny'),
    '--tokenizer', path.join(root, 'assets/llada-tokenizer'), '--port', String(port), '--mmu-size', '64',
    '--preview-every', '1'], { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return proc; } catch (e) { /* not up yet */ }
    if (proc.exitCode !== null) throw new Error('server exited during start-up');
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not come up');
}

const t0 = Date.now();
const port = await freePort();
const server = await startServer(port);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById('model-name').textContent === 'mmada_tiny');

  // Chat with an attached image (by the file button's input), small settings for the tiny model.
  await page.locator('.settings').first().evaluate((d) => { d.open = true; });
  await page.fill('#chat-max-tokens', '16');
  await page.fill('#chat-steps', '8');
  await page.fill('#chat-block', '8');
  await page.setInputFiles('#attach-input', { name: 'gradient.png', mimeType: 'image/png', buffer: gradientPng(96, 64) });
  await page.waitForSelector('#attachment:not([hidden])');
  await page.fill('#chat-input', 'What is in this picture?');
  await page.click('#chat-send');
  await page.waitForSelector('.msg.assistant.done', { timeout: 120000 });
  assert.equal(await page.locator('.msg.user img').count(), 1, 'the user message shows the attached image');
  assert.equal(await page.locator('.msg.assistant.error').count(), 0, await page.locator('.msg.assistant').innerText());
  const answer = await page.locator('.msg.assistant .text').innerText();
  assert.ok(answer.length > 0, 'the answer is not empty');
  // A second turn (the history, image included, is sent again).
  await page.fill('#chat-input', 'And the colours?');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant.done').length === 2, null, { timeout: 120000 });
  assert.equal(await page.locator('.msg.assistant.error').count(), 0);
  await page.screenshot({ path: path.join(shots, 'chat.png'), fullPage: true });

  // Image generation: the token grid and preview update while it denoises, then the final image.
  await page.click('#tab-image');
  await page.locator('#image-view .settings').evaluate((d) => { d.open = true; });
  await page.selectOption('#image-size', '64x64');
  await page.fill('#image-steps', '12');
  await page.fill('#image-prompt', 'a lighthouse at dusk');
  await page.click('#image-generate');
  // Watch the preview element: record each distinct src while it changes.
  await page.waitForFunction(() => Number(document.getElementById('preview').dataset.updates) >= 2, null, { timeout: 120000 });
  await page.screenshot({ path: path.join(shots, 'image-progress.png'), fullPage: true });
  await page.waitForSelector('#final:not([hidden])', { timeout: 120000 });
  const updates = Number(await page.getAttribute('#preview', 'data-updates'));
  assert.ok(updates >= 2, `preview updated ${updates} times`);
  const committed = Number(await page.getAttribute('#token-grid', 'data-committed'));
  assert.equal(committed, 16, 'every token of the 4x4 grid is committed at the end');
  const finalOk = await page.$eval('#final-image', (img) => img.complete && img.naturalWidth === 64);
  assert.ok(finalOk, 'the final image is a decoded 64x64 picture');
  assert.match(await page.getAttribute('#download', 'href'), /^data:image\/png;base64,/);
  await page.screenshot({ path: path.join(shots, 'image-final.png'), fullPage: true });
  assert.deepEqual(consoleErrors, []);
  console.log(`browser test passed in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${updates} preview updates; screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error('browser test FAILED:', e);
  try { await (await browser.contexts()[0]?.pages()[0])?.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }); } catch (_) { /* best effort */ }
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
process.exit(failed ? 1 : 0);
