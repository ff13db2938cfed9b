// Walks the web app as its three kinds of users would, in headless Chromium (Debian's),
// and reports as one JSON line what it saw; any page error or console error is recorded
// and fails the test. Run by tests/suite/web_app.rs, which checks the report.
//
// usage: node walkthrough.mjs BASE_URL CLIP SMALL_CLIP ADMIN_EMAIL ADMIN_PASSWORD DEAD_JOB_ID SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, clip, smallClip, adminEmail, adminPassword, deadJob, shots] = process.argv.slice(2);
const STEP_MS = 60_000;
const ENCODE_MS = 240_000;
const unique = Date.now().toString(36);
const title = `Walkthrough ${unique}`;
const report = { errors: [], steps: [] };
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
});

// A fresh browser profile (its own cookies) whose errors are all recorded.
async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => report.errors.push(`${name}: page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") report.errors.push(`${name}: console error: ${message.text()} (${message.location().url})`);
  });
  page.on("dialog", (dialog) => dialog.accept());
  return { context, page };
}

function step(name) {
  report.steps.push(name);
}

async function until(page, what, predicate, arg, timeout = STEP_MS) {
  try {
    return await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
  } catch (error) {
    throw new Error(`waiting for ${what}: ${error.message.split("\n")[0]}`);
  }
}

async function shoot(page, name) {
  for (const width of [375, 1440]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    // Let layout settle to the new width before measuring.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) report.errors.push(`${name} at ${width}px overflows by ${overflow}px`);
    await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: false });
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}

async function register(page, name, email, password) {
  await page.goto(`${base}/#/register`);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#sign-out").waitFor({ timeout: STEP_MS });
}

try {
  // --- The creator: register, upload unlisted, watch it become ready without reload.
  const creator = await person("creator");
  const page = creator.page;
  const creatorEmail = `creator-${unique}@example.org`;
  await register(page, "Casey Creator", creatorEmail, "creator password 1");
  step("registered");
  await shoot(page, "home");

  await page.goto(`${base}/#/studio`);
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.getByLabel("Video file").setInputFiles(clip);
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Description").fill("A clip with a scene and a tone.");
  await page.getByLabel("Visibility").selectOption("unlisted");
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await until(page, "the upload to finish", () => document.querySelector(".upload-form .message")?.textContent.startsWith("Uploaded"));
  step("uploaded");
  const row = page.locator(".library-row", { hasText: title });
  await row.waitFor({ timeout: STEP_MS });
  const videoId = await row.getAttribute("data-id");
  report.videoId = videoId;
  const percents = [];
  const deadline = Date.now() + ENCODE_MS;
  let status = "";
  while (Date.now() < deadline) {
    status = await row.getAttribute("data-status");
    const percent = await row.locator(".percent").textContent({ timeout: 50 }).catch(() => null);
    if (percent !== null) {
      const value = parseFloat(percent);
      if (percents[percents.length - 1] !== value) percents.push(value);
    }
    if (status === "ready" || status === "failed") break;
    await page.waitForTimeout(100);
  }
  report.percents = percents;
  report.finalStatus = status;
  report.sameDocument = await page.evaluate(() => window.__sameDocument === true);
  report.liveMode = await page.locator(".live-mode").getAttribute("data-mode");
  if (status !== "ready") throw new Error(`the video ended ${status}`);
  step("ready without reload");
  await shoot(page, "studio");

  // A resumable (tus) upload keeps its title and visibility.
  await page.getByLabel("Video file").setInputFiles(smallClip);
  await page.getByLabel("Title").fill(`${title} (resumable)`);
  await page.getByLabel("Visibility").selectOption("private");
  await page.getByLabel(/^Resumable/).check();
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await until(page, "the resumable upload to finish", () => document.querySelector(".upload-form .message")?.textContent.startsWith("Uploaded"));
  const resumableRow = page.locator(".library-row", { hasText: `${title} (resumable)` });
  await resumableRow.waitFor({ timeout: STEP_MS });
  report.resumableVisibility = await resumableRow.locator(".badge").first().textContent();
  step("resumable upload");

  // --- Play, switch quality, see a storyboard thumbnail on hover.
  await row.getByRole("link", { name: "Play" }).click();
  await until(page, "playback to pass 1 s", () => document.querySelector(".player video")?.currentTime > 1);
  const options = await page.locator(".player select.quality option").evaluateAll((all) => all.map((o) => [o.value, o.textContent]));
  report.qualities = options.map(([, text]) => text);
  const lowest = options[options.length - 1][0];
  await page.locator(".player select.quality").selectOption(lowest);
  await until(page, "the level switch", (level) => document.querySelector(".player")?.dataset.level === level, lowest);
  report.switchedTo = lowest;
  const timeline = page.locator(".player .timeline");
  const box = await timeline.boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await until(page, "a storyboard thumbnail", () => {
    const thumb = document.querySelector(".player .preview .thumb");
    return thumb && !thumb.closest(".preview").hidden && thumb.style.backgroundImage.includes("storyboard");
  });
  const sprite = await page.locator(".player .preview .thumb").getAttribute("data-src");
  report.spriteStatus = await page.evaluate(async (url) => (await fetch(url)).status, sprite);
  step("played, switched quality, previewed");
  await shoot(page, "watch");

  // --- Like, comment, reply, delete the comment.
  await page.locator("button.like").click();
  await until(page, "the like", () => document.querySelector("button.like").getAttribute("aria-pressed") === "true");
  report.likeLabel = await page.locator("button.like").textContent();
  await page.getByPlaceholder("Add a comment").fill("First comment from the walkthrough");
  await page.getByRole("button", { name: "Post" }).click();
  const comment = page.locator(".comments > .comment", { hasText: "First comment from the walkthrough" });
  await comment.waitFor({ timeout: STEP_MS });
  await comment.getByRole("button", { name: "Reply" }).click();
  await comment.getByPlaceholder("Write a reply").fill("A reply to it");
  await comment.getByRole("button", { name: "Post" }).click();
  await comment.locator(".replies .comment", { hasText: "A reply to it" }).waitFor({ timeout: STEP_MS });
  await comment.locator(".comment-actions").first().getByRole("button", { name: "Delete" }).click();
  await comment.waitFor({ state: "detached", timeout: STEP_MS });
  step("liked, commented, replied, deleted");

  // --- Search finds it once public.
  await page.fill("#search-form input[name=q]", unique);
  await page.press("#search-form input[name=q]", "Enter");
  await until(page, "search results", () => document.querySelector(".results .empty, .results .grid"));
  report.foundWhileUnlisted = await page.locator(`.results [data-id="${videoId}"]`).count();
  await page.goto(`${base}/#/studio?edit=${videoId}`);
  await page.locator(".edit-form").waitFor({ timeout: STEP_MS });
  await page.locator(".edit-form select[name=visibility]").selectOption("public");
  await page.locator(".edit-form").getByRole("button", { name: "Save" }).click();
  await page.locator(".edit-form").waitFor({ state: "detached", timeout: STEP_MS });
  await page.fill("#search-form input[name=q]", unique);
  await page.press("#search-form input[name=q]", "Enter");
  await until(page, "the video in search results", (id) => document.querySelector(`.results [data-id="${id}"]`), videoId);
  report.foundWhenPublic = true;
  step("search finds it when public");
  await shoot(page, "search");

  // --- A second user follows the creator, watches, and finds it in the following feed
  // and in history with where to resume.
  const viewer = await person("viewer");
  await register(viewer.page, "Vera Viewer", `viewer-${unique}@example.org`, "viewer password 1");
  await viewer.page.goto(`${base}/#/watch/${videoId}`);
  await viewer.page.getByRole("button", { name: "Follow" }).click();
  await until(viewer.page, "the follow", () => document.querySelector("button.follow").getAttribute("aria-pressed") === "true");
  await until(viewer.page, "playback to pass 3 s", () => document.querySelector(".player video")?.currentTime > 3);
  await viewer.page.locator(".player .screen").click();
  await until(viewer.page, "the pause", () => document.querySelector(".player video")?.paused);
  report.pausedAt = await viewer.page.evaluate(() => document.querySelector(".player video").currentTime);
  await viewer.page.goto(`${base}/#/?feed=following`);
  await until(viewer.page, "the video in the following feed", (id) => document.querySelector(`.feed [data-id="${id}"]`), videoId);
  await viewer.page.goto(`${base}/#/history`);
  const entry = viewer.page.locator(`.history [data-id="${videoId}"]`);
  await entry.waitFor({ timeout: STEP_MS });
  report.resumeText = await entry.locator(".resume").textContent();
  report.resumeHref = await entry.locator("a.thumb").getAttribute("href");
  step("followed, following feed, history with resume");
  await shoot(viewer.page, "history");
  await entry.locator("a.thumb").click();
  await until(viewer.page, "playback resumed past 2 s", () => document.querySelector(".player video")?.currentTime >= 2);
  report.resumedAt = await viewer.page.evaluate(() => document.querySelector(".player video").currentTime);
  await viewer.page.goto(`${base}/#/creator/${await page.evaluate(async () => (await (await fetch("/api/v1/me")).json()).id)}`);
  await viewer.page.locator(".creator-header h1").waitFor({ timeout: STEP_MS });
  await shoot(viewer.page, "creator");

  // --- The operator retries a dead job.
  const admin = await person("admin");
  await admin.page.goto(`${base}/#/signin`);
  await admin.page.getByLabel("Email").fill(adminEmail);
  await admin.page.getByLabel("Password").fill(adminPassword);
  await admin.page.getByRole("button", { name: "Sign in" }).click();
  await admin.page.locator("#sign-out").waitFor({ timeout: STEP_MS });
  await admin.page.goto(`${base}/#/admin?state=dead`);
  const deadRow = admin.page.locator(`table.jobs tr[data-id="${deadJob}"]`);
  await deadRow.waitFor({ timeout: STEP_MS });
  report.deadCount = await admin.page.locator('.count[data-state="dead"] .value').textContent();
  await shoot(admin.page, "operator");
  await deadRow.getByRole("button").first().click();
  await admin.page.locator(".job-detail").getByRole("button", { name: "Retry" }).click();
  await until(admin.page, "the retried job", () => document.querySelector("#toast")?.textContent.includes("queued again"));
  step("operator retried a dead job");

  // --- The API documentation renders every operation.
  const docs = await person("docs");
  await docs.page.goto(`${base}/api/v1/docs`);
  await until(docs.page, "the operations", () => document.getElementById("count")?.textContent);
  const documented = await (await fetch(`${base}/api/v1/openapi.json`)).json();
  report.operations = Object.values(documented.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  report.rendered = await docs.page.locator("details.operation").count();
  report.backticksLeft = await docs.page.evaluate(() => document.body.innerText.includes("`"));
  step("docs");

  // --- Signing out leaves nothing of the creator on the page.
  await page.goto(`${base}/#/watch/${videoId}`);
  await page.locator(".player").waitFor({ timeout: STEP_MS });
  await page.locator("#sign-out").click();
  await page.locator("#account a", { hasText: "Sign in" }).waitFor({ timeout: STEP_MS });
  const traces = await page.evaluate((name) => ({
    nameShown: document.body.innerText.includes(name),
    player: Boolean(document.querySelector(".player, video")),
    studioLink: Boolean(document.querySelector('#nav a[href="#/studio"]')),
  }), "Casey Creator");
  await page.goto(`${base}/#/register`);
  await page.getByLabel("Email").waitFor();
  traces.filledInputs = await page.evaluate(() => [...document.querySelectorAll("input")].filter((i) => i.value && i.type !== "search").length);
  traces.cookies = (await creator.context.cookies()).map((c) => c.name);
  report.afterSignOut = traces;
  step("signed out");
} catch (error) {
  report.fatal = error.message;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
