//! Training by dual score matching.

mod loss;

pub use loss::{Objective, ScoreMatchingLoss, score_matching_loss};
