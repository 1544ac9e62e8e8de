"""What each lesson knows: its checks, points, defaults, schema and page, one folder per lesson."""
