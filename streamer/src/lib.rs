//! The streaming service: playlists, segments and posters of ready videos,
//! streamed from object storage. Public videos play directly; unlisted and private
//! ones need a playback token, which travels in every playlist URI.

mod access;
mod object_path;
mod playlist_tokens;
mod serve;

use streambox_common::routes::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .get("/hls/{video_id}/master.m3u8", serve::master)
        .get("/hls/{video_id}/poster.jpg", serve::poster)
        .get("/hls/{video_id}/storyboard.jpg", serve::storyboard_sprite)
        .get("/hls/{video_id}/storyboard.vtt", serve::storyboard_track)
        .get("/hls/{video_id}/{rendition}/{file}", serve::rendition_file)
}
