//! dualscore-cpu
