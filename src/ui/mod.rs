//! Rendering: pure functions from `State` to a frame.
