"""Trusted slow references shared by the tests: written from the rules, independent of the project."""
from collections import deque


def maze_shortest(grid):
    """Cells on a shortest S->G path (S and G included), or None: plain BFS over the characters."""
    h, w = len(grid), len(grid[0])
    s = next((r, c) for r in range(h) for c in range(w) if grid[r][c] == "S")
    g = next((r, c) for r in range(h) for c in range(w) if grid[r][c] == "G")
    dist, queue = {s: 1}, deque([s])
    while queue:
        r, c = queue.popleft()
        if (r, c) == g:
            return dist[g]
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < h and 0 <= nc < w and grid[nr][nc] != "#" and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                queue.append((nr, nc))
    return None
