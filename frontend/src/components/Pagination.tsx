interface PaginationProps {
  page: number;
  pageSize: number;
  count: number;
  onPage: (page: number) => void;
}

/** "51–100 of 230" with previous/next; hidden when everything fits on one page. */
export function Pagination({ page, pageSize, count, onPage }: PaginationProps) {
  const pages = Math.max(1, Math.ceil(count / pageSize));
  const first = count === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(count, page * pageSize);
  return (
    <div className="pagination">
      <span className="muted">
        {first}–{last} of {count}
      </span>
      {pages > 1 ? (
        <span className="pagination-buttons">
          <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => onPage(page - 1)}>
            ‹ Prev
          </button>
          <span className="muted">
            Page {page} / {pages}
          </span>
          <button
            type="button"
            className="btn btn-small"
            disabled={page >= pages}
            onClick={() => onPage(page + 1)}
          >
            Next ›
          </button>
        </span>
      ) : null}
    </div>
  );
}
