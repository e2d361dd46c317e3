//! Personalization with Handlebars.
