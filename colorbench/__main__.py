from colorbench.cli import main

raise SystemExit(main())
