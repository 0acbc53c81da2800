"""`publish()` / `apublish()` (`publish`) and HTML fragments rendered once per event (`fragments`)."""
