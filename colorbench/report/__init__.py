"""Results and reporting: the results store and ``summary.json``, statistics, paired
comparisons, the leaderboard and its heatmap."""
