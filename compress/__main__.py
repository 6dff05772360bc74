from compress.cli import main

raise SystemExit(main())
