from lib.book.cli import main

raise SystemExit(main())
