//! dualscore-backend-tests
