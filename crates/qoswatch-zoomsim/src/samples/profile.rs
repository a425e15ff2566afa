//! A participant's client as the samples see it ([`Profile`]): which
//! streams flow, whether Wi-Fi is reported, and the seed of its noise.

/// What a participant's client is doing: which streams flow and whether the
/// account reports Wi-Fi signal strength.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Seed of the participant's noise; the same seed repeats the same run.
    pub seed: u64,
    /// Camera on: `video_input`/`video_output` carry data. Off: both are `""`.
    pub video: bool,
    /// Sharing the screen: `as_input`/`as_output` carry data. Off: both `""`.
    pub screen_share: bool,
    /// Whether samples carry a `wifi_rssi` block (newer accounts, Wi-Fi
    /// clients). Its values are JSON numbers, as in Zoom's typings.
    pub wifi: bool,
}

impl Profile {
    /// A healthy participant with camera on, not sharing, on Wi-Fi.
    pub fn healthy(seed: u64) -> Self {
        Self {
            seed,
            video: true,
            screen_share: false,
            wifi: true,
        }
    }

    /// The same participant with the camera off.
    pub fn without_video(mut self) -> Self {
        self.video = false;
        self
    }

    /// The same participant sharing their screen.
    pub fn sharing_screen(mut self) -> Self {
        self.screen_share = true;
        self
    }

    /// The same participant on a wired connection (no `wifi_rssi`).
    pub fn wired(mut self) -> Self {
        self.wifi = false;
        self
    }
}
