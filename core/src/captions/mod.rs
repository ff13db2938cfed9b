//! Caption tracks, from the file an owner uploads (or the source carried) to the HLS
//! subtitle renditions players pick from: the file is normalised to WebVTT
//! ([`webvtt`]), cut into segments that line its cues up with the picture
//! ([`segments`]), and named in the master playlist ([`master`]) whenever the master
//! is written, by the transcoder or after a change to the tracks ([`publish`]).

pub mod master;
pub mod publish;
pub mod segments;
pub mod webvtt;
