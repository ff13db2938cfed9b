//! The transcode worker: probe -> one ffmpeg for the whole ladder -> master
//! playlist and poster -> publish to object storage -> mark the video ready.

mod audio;
mod chunking;
mod continuity;
mod download;
mod embedded_captions;
mod encode;
mod encryption;
mod error;
mod ffmpeg;
mod fmp4;
mod iframes;
mod job;
mod ladder;
mod live;
mod master;
mod measure;
mod parts;
mod poster;
mod probe;
mod publish;
mod rates;
mod reconcile;
mod stitch;
mod storyboard;
mod tone_map;
mod tracks;
mod worker;

pub use worker::run;
