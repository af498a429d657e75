"""The media repository: uploads, downloads and thumbnails (spec "Content repository")."""
