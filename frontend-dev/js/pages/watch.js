// The video page: player, title, creator with follow button, description, views, likes,
// comments with replies; for the owner, the state of a video still being prepared.

import { h, count, ago, duration, toast } from "../dom.js";
import { get, put, del, post, patch, query } from "../api.js";
import { followButton } from "../cards.js";
import { Player } from "../player.js";
import { onLive } from "../session.js";
import { statusLine } from "../status.js";

export async function render(root, { params, session }, id) {
  const video = await get(`/api/v1/videos/${id}`);
  const creator = await get(`/api/v1/creators/${video.owner_id}`).catch(() => null);
  const me = session.me;
  const resumeAt = Number(params.get("t")) || 0;
  let player = null;
  const stage = h("div", { class: "stage" });

  let mounting = null;
  let left = false;
  // Mounts the player once, however many times it is asked for.
  function mountPlayer() {
    mounting ??= (async () => {
      const playback = await get(`/api/v1/videos/${id}/playback`);
      if (left) return;
      player = new Player(playback, { videoId: id, resumeAt, signedIn: Boolean(me) });
      player.element.addEventListener("playerror", (e) => toast(`Playback failed (${e.detail}). Try reloading the page.`, "error"));
      stage.replaceChildren(player.element);
      if (resumeAt) stage.append(h("p", { class: "sub" }, `Resuming from ${duration(resumeAt)}.`));
    })().catch((error) => {
      mounting = null;
      toast(`The video could not be started: ${error.message}`, "error");
    });
    return mounting;
  }

  const unsubscribe = [];
  const cleanup = () => {
    left = true;
    for (const stop of unsubscribe) stop();
    if (!player) return undefined;
    player.signedIn = Boolean(session.me);
    return player.destroy();
  };
  if (video.playable) {
    await mountPlayer();
  } else {
    const line = h("p", { class: "status-line" });
    const show = (state) => line.replaceChildren(...statusLine(state));
    show({ status: video.status, percent: video.progress?.percent, eta_s: video.progress?.eta_s, error: video.error });
    stage.replaceChildren(h("div", { class: "not-ready" }, h("p", {}, "This video is not ready to play yet."), line));
    unsubscribe.push(onLive(async ({ type, data }) => {
      if (type === "resync" && !player) {
        const now = await get(`/api/v1/videos/${id}`).catch(() => null);
        if (now) data = { ...now, percent: now.progress?.percent, eta_s: now.progress?.eta_s };
        else return;
      } else if (type !== "video" || data.id !== id) {
        return;
      }
      show(data);
      if (data.playable && !player) await mountPlayer();
    }));
  }

  const likeButton = h("button", { type: "button", class: "ghost like", "aria-pressed": String(Boolean(video.liked)), disabled: !me,
    title: me ? "Like" : "Sign in to like" }, `♥ ${video.likes ?? 0}`);
  likeButton.addEventListener("click", async () => {
    const liked = likeButton.getAttribute("aria-pressed") === "true";
    const state = liked ? await del(`/api/v1/videos/${id}/like`) : await put(`/api/v1/videos/${id}/like`);
    likeButton.setAttribute("aria-pressed", String(state.liked));
    likeButton.textContent = `♥ ${state.likes}`;
  });

  const creatorBox = creator ? creatorLine(creator, me) : h("div", { class: "creator" });
  const ownerBar = me && (me.id === video.owner_id || me.role === "admin")
    ? h("div", { class: "owner-bar" }, h("span", { class: `badge ${video.visibility}` }, video.visibility),
      h("a", { href: `#/studio?edit=${id}`, class: "button ghost" }, "Edit in Studio"))
    : null;

  try {
    root.append(h("div", { class: "watch" },
      stage,
      h("h1", { class: "video-title" }, video.title),
      h("div", { class: "video-stats" }, h("span", { class: "views" }, count(video.views, "view")), " · ", h("span", {}, ago(video.created_at)),
        h("span", { class: "spacer" }), likeButton),
      ownerBar,
      creatorBox,
      video.description ? h("p", { class: "description" }, video.description) : null,
      await comments(id, video, me)));
  } catch (error) {
    cleanup();
    throw error;
  }
  return cleanup;
}

function creatorLine(creator, me) {
  const followers = h("span", { class: "sub followers" }, count(creator.followers, "follower"));
  const box = h("div", { class: "creator" },
    h("a", { href: `#/creator/${creator.id}`, class: "creator-name" }, creator.display_name), followers);
  if (me && me.id !== creator.id) box.append(followButton(creator, followers));
  return box;
}

async function comments(videoId, video, me) {
  const list = h("ol", { class: "comments" });
  const heading = h("h2", {}, "Comments");
  const section = h("section", { class: "comments-section", "aria-label": "Comments" }, heading);
  if (me) {
    section.append(commentForm("Add a comment", async (body) => {
      const comment = await post(`/api/v1/videos/${videoId}/comments`, { body });
      list.querySelector(".empty")?.remove();
      list.prepend(commentItem(comment, video, me));
    }));
  } else {
    section.append(h("p", { class: "sub" }, h("a", { href: "#/signin" }, "Sign in"), " to comment."));
  }
  section.append(list);
  await loadComments(list, `/api/v1/videos/${videoId}/comments`, null, video, me);
  return section;
}

async function loadComments(list, path, cursor, video, me) {
  const page = await get(`${path}${query({ cursor, limit: 20 })}`);
  if (!cursor && page.items.length === 0 && !list.classList.contains("replies")) list.append(h("li", { class: "empty" }, "No comments yet."));
  for (const comment of page.items) list.append(commentItem(comment, video, me));
  if (page.next_cursor) {
    const more = h("li", {}, h("button", { type: "button", class: "ghost more" }, "More comments"));
    more.firstChild.addEventListener("click", async () => { more.remove(); await loadComments(list, path, page.next_cursor, video, me); });
    list.append(more);
  }
}

function commentForm(label, submit, initial = "") {
  const text = h("textarea", { name: "body", rows: 2, maxlength: 2000, required: true, "aria-label": label, placeholder: label });
  text.value = initial;
  const message = h("p", { class: "message", role: "status" });
  const form = h("form", { class: "comment-form" }, text, h("div", { class: "row" }, h("button", { type: "submit" }, initial ? "Save" : "Post"), message));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    form.querySelector("button[type=submit]").disabled = true;
    try {
      await submit(body);
      form.reset();
      message.textContent = "";
    } catch (error) {
      message.textContent = error.message;
    } finally {
      form.querySelector("button[type=submit]").disabled = false;
    }
  });
  return form;
}

function commentItem(comment, video, me) {
  const body = h("p", { class: "body" }, comment.body);
  const meta = h("div", { class: "comment-meta" }, h("strong", {}, comment.author_name), " ",
    h("span", { class: "sub" }, ago(comment.created_at), comment.edited_at ? " · edited" : ""));
  const actions = h("div", { class: "comment-actions" });
  const item = h("li", { class: "comment", dataset: { id: comment.id } }, meta, body, actions);
  const replies = h("ol", { class: "comments replies" });
  if (!comment.parent_id) {
    if (me) {
      actions.append(h("button", { type: "button", class: "link", onclick: () => {
        if (item.querySelector(":scope > .comment-form")) return;
        const form = commentForm("Write a reply", async (text) => {
          const reply = await post(`/api/v1/videos/${video.id}/comments`, { body: text, parent_id: comment.id });
          replies.append(commentItem(reply, video, me));
          form.remove();
        });
        item.insertBefore(form, replies);
        form.querySelector("textarea").focus();
      } }, "Reply"));
    }
    if (comment.reply_count > 0) {
      const show = h("button", { type: "button", class: "link" }, `${count(comment.reply_count, "reply", "replies")}`);
      show.addEventListener("click", async () => { show.remove(); await loadComments(replies, `/api/v1/comments/${comment.id}/replies`, null, video, me); });
      actions.append(show);
    }
    item.append(replies);
  }
  if (me && me.id === comment.author_id) {
    actions.append(h("button", { type: "button", class: "link", onclick: () => {
      const form = commentForm("Edit your comment", async (text) => {
        const edited = await patch(`/api/v1/comments/${comment.id}`, { body: text });
        body.textContent = edited.body;
        form.replaceWith(body);
      }, body.textContent);
      body.replaceWith(form);
    } }, "Edit"));
  }
  if (me && (me.id === comment.author_id || me.id === video.owner_id || me.role === "admin")) {
    actions.append(h("button", { type: "button", class: "link danger", onclick: async () => {
      if (!confirm("Delete this comment?")) return;
      await del(`/api/v1/comments/${comment.id}`);
      item.remove();
      toast("Comment deleted.");
    } }, "Delete"));
  }
  return item;
}

