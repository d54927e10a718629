//! Runnable example graphs.
